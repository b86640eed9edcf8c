// The UNet blocks' speed layer: unet_blocks_fast.h says what each form keeps equal.
#include "diffusion/unet_blocks_fast.h"

#include <algorithm>
#include <vector>

#include "common/conv.h"
#include "common/error.h"

namespace disco::diffusion::fast {
using torch::Tensor;

namespace {
constexpr int64_t kGroups = GroupNorm32Impl::kGroups;
constexpr double kEps = GroupNorm32Impl::kEps;

bool is_low_precision(const Tensor& x) {
  return x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16;
}

// The fp16/bf16 torso (and any CUDA tensor): the reference upcasts x to float32, normalises and
// rounds back. Here the statistics are float32 reductions over x itself, per channel (so that a
// conv's bias can be folded in afterwards, and so that a channels-last x is reduced over its outer
// dimension), and the normalisation, with the affine, any scale-shift and any pre_bias folded into
// one per-channel a*x + b, is one kernel. The results differ by roundings of the size the
// reference's own fp16 scale-shift makes; in exchange no float32 copy of the activation is made
// (3 GiB at 1280x768), and the reductions use the whole card where aten's group_norm runs one
// thread block per group: 32 for the sampler's batch of one, 54 % of the reference's UNet time.
std::pair<Tensor, Tensor> folded_affine(const GroupNorm32Impl& norm, const Tensor& x, const Tensor& scale,
                                        const Tensor& shift, const Tensor& pre_bias) {
  const int64_t n = x.size(0), c = x.size(1);
  DISCO_CHECK(c % kGroups == 0, ModelMismatchError, "GroupNorm32 needs channels divisible by 32, got ", c);
  Tensor channels;  // x's elements by (sample, channel), reduced over `dim`
  int64_t dim = 2;
  if (x.dim() == 4 && !x.is_contiguous() && x.is_contiguous(torch::MemoryFormat::ChannelsLast)) {
    channels = x.permute({0, 2, 3, 1}).reshape({n, -1, c});  // a view: [N, H*W, C]
    dim = 1;
  } else {
    channels = x.contiguous().view({n, c, -1});  // [N, C, L]
  }
  const double length = static_cast<double>(x.numel() / (n * c));
  auto sum = channels.sum({dim}, false, torch::kFloat32);                                      // [N, C]
  auto sum_sq = torch::linalg_vector_norm(channels, 2, {dim}, false, torch::kFloat32).square();  // [N, C]
  const auto pb = pre_bias.defined() ? pre_bias.to(torch::kFloat32).view({1, c}) : Tensor();
  if (pb.defined()) {  // the sums of x + pre_bias
    sum_sq = sum_sq + 2 * pb * sum + length * pb.square();
    sum = sum + length * pb;
  }
  const double count = length * static_cast<double>(c / kGroups);
  const auto mean = sum.view({n, kGroups, -1}).sum(2) / count;  // [N, G]
  const auto mean_sq = sum_sq.view({n, kGroups, -1}).sum(2) / count;
  const auto rstd = (mean_sq - mean.square()).clamp_min(0).add(kEps).rsqrt();
  const auto per_channel = [&](const Tensor& g) {  // [N, G] -> [N, C]
    return g.unsqueeze(2).expand({n, kGroups, c / kGroups}).reshape({n, c});
  };
  auto a = per_channel(rstd) * norm.weight;  // [N, C] float32
  auto b = norm.bias - per_channel(mean) * a;
  if (pb.defined()) b = b + a * pb;
  if (scale.defined()) {
    const auto s = 1 + scale.reshape({n, c}).to(torch::kFloat32);
    a = a * s;
    b = b * s + shift.reshape({n, c}).to(torch::kFloat32);
  }
  std::vector<int64_t> shape(x.dim(), 1);
  shape[0] = n;
  shape[1] = c;
  // a and b rounded to x's dtype like the reference's fp16 scale-shift; addcmul computes in float32.
  return {a.view(shape).to(x.scalar_type()), b.view(shape).to(x.scalar_type())};
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// See silu_of_affine. The backward pass works in one activation-sized buffer: a * x + b, then the
// SiLU's gradient dz over it, then dz * a over that. The plain formula holds three such buffers at
// once (dz, dz * a, dz * x). At the 512 model's first top output block (a 384-channel concatenation
// at full resolution, fp16) each is 0.70 GiB at 1280x768, in the backward phase that decides whether
// the full-UNet path fits a budget.
struct SiluOfAffine : public torch::autograd::Function<SiluOfAffine> {
  static Tensor forward(AutogradContext* ctx, const Tensor& x, const Tensor& a, const Tensor& b) {
    ctx->save_for_backward({x, a, b});
    auto z = torch::addcmul(b, x, a);
    return torch::silu_(z);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &a = saved[1], &b = saved[2];
    auto dz = torch::addcmul(b, x, a);  // z, made dz below
    torch::silu_backward_out(dz, grad_out[0], dz);  // elementwise: writing over its own input is safe
    auto db = dz.sum_to_size(b.sizes());
    if (db.is_alias_of(dz)) db = db.clone();  // b of x's shape: nothing summed, and dz is overwritten below
    // a's gradient sums dz * x per entry of a. For a large x the products are taken a few channels
    // at a time, so that no second buffer of x's size exists; each channel's sum is the whole one's.
    constexpr int64_t kChunkFrom = 64 << 20;  // bytes; below it the launches cost more than the memory
    Tensor da;
    if (x.numel() * x.element_size() >= kChunkFrom && a.dim() == x.dim() && a.dim() >= 2 && a.size(1) > 1 &&
        x.size(1) == a.size(1)) {
      const int64_t c = a.size(1), step = std::max<int64_t>(1, c / 8);
      std::vector<Tensor> parts;
      for (int64_t c0 = 0; c0 < c; c0 += step) {
        const int64_t k = std::min(step, c - c0);
        parts.push_back((dz.narrow(1, c0, k) * x.narrow(1, c0, k)).sum_to_size(a.narrow(1, c0, k).sizes()));
      }
      da = torch::cat(parts, 1);
    } else {
      da = (dz * x).sum_to_size(a.sizes());
    }
    auto dx = dz.mul_(a);
    if (dx.sizes() != x.sizes()) dx = dx.sum_to_size(x.sizes());  // an x that broadcasts to a and b
    return {dx, da, db};
  }
};
}  // namespace

Tensor silu_of_affine(const Tensor& x, const Tensor& a, const Tensor& b) { return SiluOfAffine::apply(x, a, b); }

bool folds(const Tensor& x) { return is_low_precision(x) || x.is_cuda(); }

Tensor group_norm(const GroupNorm32Impl& norm, const Tensor& x, const Tensor& scale, const Tensor& shift) {
  if (folds(x)) {
    const auto [a, b] = folded_affine(norm, x, scale, shift, {});
    return torch::addcmul(b, x, a);
  }
  auto h = torch::group_norm(x, kGroups, norm.weight, norm.bias, kEps);
  if (!scale.defined()) return h;
  if (torch::GradMode::is_enabled()) return h * (1 + scale) + shift;
  return h.mul_(1 + scale).add_(shift);  // the same arithmetic without two temporaries
}

Tensor group_norm_consuming(const GroupNorm32Impl& norm, Tensor x, const Tensor& scale, const Tensor& shift,
                            const Tensor& pre_bias) {
  if (!folds(x)) {
    if (pre_bias.defined()) x = x + pre_bias.view({1, -1, 1, 1}).to(x.scalar_type());
    return group_norm(norm, x, scale, shift);
  }
  const auto [a, b] = folded_affine(norm, x, scale, shift, pre_bias);
  if (torch::GradMode::is_enabled()) return torch::addcmul(b, x, a);
  return torch::addcmul_out(x, b, x, a);  // elementwise, so writing over its own input is safe
}

Tensor silu_norm(const GroupNorm32Impl& norm, Tensor x, const Tensor& scale, const Tensor& shift,
                 const Tensor& pre_bias, bool consume) {
  const bool grad = torch::GradMode::is_enabled();
  if (folds(x) && grad && norm.execution().lean_graph) {
    const auto [a, b] = folded_affine(norm, x, scale, shift, pre_bias);
    return silu_of_affine(x, a, b);
  }
  DISCO_CHECK(consume || !pre_bias.defined(), RuntimeError, "GroupNorm32: a pre_bias needs an x to consume");
  auto h = consume ? group_norm_consuming(norm, std::move(x), scale, shift, pre_bias) : group_norm(norm, x, scale, shift);
  return grad ? torch::silu(h) : torch::silu_(h);  // without gradients h is this call's own
}

namespace {

Tensor conv(const ResBlockImpl& b, const Tensor& x, const torch::nn::Conv2d& c, const Tensor& bias, int64_t padding) {
  return b.execution().lean_graph ? conv2d_input_grad(x, c->weight, bias, 1, padding)
                                  : torch::conv2d(x, c->weight, bias, 1, padding);
}

Tensor project_skip(const ResBlockImpl& b, const Tensor& x) {
  return conv(b, x, b.skip_connection, b.skip_connection->bias, 0);  // 1x1
}

// in_conv(h), and the bias it still lacks: undefined when it has it. The bias is left out where
// out_norm can take it into its statistics instead, which saves a pass over the activation.
std::pair<Tensor, Tensor> in_conv_deferring_bias(const ResBlockImpl& b, Tensor h) {
  const auto& bias = b.in_conv->bias;
  if (!b.options().use_scale_shift_norm || !bias.defined() || !folds(h)) return {conv(b, h, b.in_conv, bias, 1), {}};
  return {conv(b, h, b.in_conv, {}, 1), bias};
}

// emb, norm (of h + pre_bias), SiLU, conv.
Tensor out_branch(ResBlockImpl& b, Tensor h, const Tensor& pre_bias, const Tensor& emb) {
  auto emb_out = b.emb_layers->forward(emb).to(h.scalar_type());  // [N, 2*Cout or Cout]
  while (emb_out.dim() < h.dim()) emb_out = emb_out.unsqueeze(-1);  // [N, *, 1, 1]
  if (b.options().use_scale_shift_norm) {
    auto ss = emb_out.chunk(2, 1);  // scale first, then shift
    h = silu_norm(*b.out_norm, std::move(h), ss[0], ss[1], pre_bias, /*consume=*/true);
    return conv(b, b.out_dropout(h), b.out_conv, b.out_conv->bias, 1);
  }
  DISCO_CHECK(!pre_bias.defined(), RuntimeError, "ResBlock: a deferred conv bias needs use_scale_shift_norm");
  return b.out_layers->forward(h + emb_out);  // its norm in the fast form (GroupNorm32Impl::forward)
}

}  // namespace

Tensor res_block(ResBlockImpl& b, const Tensor& x, const Tensor& emb) {
  const auto& o = b.options();
  Tensor h = silu_norm(*b.in_norm, x, {}, {}, {}, /*consume=*/false);
  // Resample between the SiLU and the conv, and the skip path the same way.
  if (o.up || o.down) h = o.up ? b.h_up(h) : b.h_down(h);
  auto [conv_out, pre_bias] = in_conv_deferring_bias(b, std::move(h));  // [N, Cout, H', W']; h freed
  h = out_branch(b, std::move(conv_out), pre_bias, emb);
  // The skip path is resampled only now: at the top of the UNet an upsampled copy of x is a
  // full-resolution tensor, better not held through the branch.
  auto skip = o.up ? b.x_up(x) : o.down ? b.x_down(x) : x;
  if (b.skip_connection) skip = project_skip(b, skip);
  return torch::GradMode::is_enabled() ? skip + h : h.add_(skip);  // (a + b == b + a exactly)
}

Tensor res_block_consuming(ResBlockImpl& b, Tensor x, const Tensor& emb) {
  const auto& o = b.options();
  if (torch::GradMode::is_enabled() || o.up || o.down || !b.skip_connection) return res_block(b, x, emb);
  auto skip = project_skip(b, x);                                                   // [N, Cout, H, W]
  x = silu_norm(*b.in_norm, std::move(x), {}, {}, {}, /*consume=*/true);
  auto [conv_out, pre_bias] = in_conv_deferring_bias(b, std::move(x));  // the input's memory is free from here
  return skip.add_(out_branch(b, std::move(conv_out), pre_bias, emb));
}

}  // namespace disco::diffusion::fast
