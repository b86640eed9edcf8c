// guided_diffusion.nn / guided_diffusion.unet building blocks, models-spec §1.2.
#include "diffusion/unet_blocks.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "common/attention.h"
#include "common/avg_pool.h"
#include "common/conv.h"
#include "common/device.h"
#include "common/error.h"
#include "diffusion/gradient_checkpoint.h"

namespace disco::diffusion {
namespace F = torch::nn::functional;
using torch::Tensor;

namespace {
torch::nn::Conv2d conv3x3(int64_t cin, int64_t cout, int64_t stride = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(cin, cout, 3).stride(stride).padding(1));
}

// Python's zero_module(): the last conv of each residual branch starts at zero.
template <typename M>
M zeroed(M m) {
  torch::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.zero_();
  return m;
}
}  // namespace

Tensor timestep_embedding(const Tensor& t, int64_t dim, double max_period) {
  const int64_t half = dim / 2;
  // freqs computed in float32 exactly as the reference: -ln(max_period) * arange / half, exp.
  const auto host = torch::exp(-std::log(max_period) * torch::arange(0, half, torch::kFloat32) / half);
  const auto freqs = upload(host, t.options().dtype(torch::kFloat32));
  auto args = t.unsqueeze(1).to(torch::kFloat32) * freqs.unsqueeze(0);  // [N, half]
  auto emb = torch::cat({torch::cos(args), torch::sin(args)}, -1);     // [N, 2*half]
  if (dim % 2) emb = torch::cat({emb, torch::zeros_like(emb.slice(1, 0, 1))}, -1);
  return emb;
}

GroupNorm32Impl::GroupNorm32Impl(int64_t channels) {
  weight = register_parameter("weight", torch::ones({channels}));
  bias = register_parameter("bias", torch::zeros({channels}));
}

namespace {
constexpr int64_t kGroups = 32;
constexpr double kEps = 1e-5;
bool is_low_precision(const Tensor& x) {
  return x.scalar_type() == torch::kHalf || x.scalar_type() == torch::kBFloat16;
}
}  // namespace

bool GroupNorm32Impl::folds(const Tensor& x) { return is_low_precision(x) || x.is_cuda(); }

Tensor GroupNorm32Impl::forward(const Tensor& x) { return forward_scale_shift(x, {}, {}); }

Tensor GroupNorm32Impl::forward_scale_shift(const Tensor& x, const Tensor& scale, const Tensor& shift) {
  if (folds(x)) {
    const auto [a, b] = folded_affine(x, scale, shift, {});
    return torch::addcmul(b, x, a);
  }
  auto h = torch::group_norm(x, kGroups, weight, bias, kEps);
  if (!scale.defined()) return h;
  if (torch::GradMode::is_enabled()) return h * (1 + scale) + shift;
  return h.mul_(1 + scale).add_(shift);  // the same arithmetic without two temporaries
}

Tensor GroupNorm32Impl::forward_scale_shift_consuming(Tensor x, const Tensor& scale, const Tensor& shift,
                                                      const Tensor& pre_bias) {
  if (!folds(x)) {
    if (pre_bias.defined()) x = x + pre_bias.view({1, -1, 1, 1}).to(x.scalar_type());
    return forward_scale_shift(x, scale, shift);
  }
  const auto [a, b] = folded_affine(x, scale, shift, pre_bias);
  if (torch::GradMode::is_enabled()) return torch::addcmul(b, x, a);
  return torch::addcmul_out(x, b, x, a);  // elementwise, so writing over its own input is safe
}

namespace {
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

Tensor GroupNorm32Impl::silu_norm(Tensor x, const Tensor& scale, const Tensor& shift, const Tensor& pre_bias,
                                  bool consume) {
  const bool grad = torch::GradMode::is_enabled();
  if (folds(x) && grad && lean_graph_) {
    const auto [a, b] = folded_affine(x, scale, shift, pre_bias);
    return silu_of_affine(x, a, b);
  }
  DISCO_CHECK(consume || !pre_bias.defined(), RuntimeError, "GroupNorm32: a pre_bias needs an x to consume");
  auto h = consume ? forward_scale_shift_consuming(std::move(x), scale, shift, pre_bias)
                   : forward_scale_shift(x, scale, shift);
  return grad ? torch::silu(h) : torch::silu_(h);  // without gradients h is this call's own
}

// The fp16/bf16 torso (and any CUDA tensor): the reference upcasts x to float32, normalises and
// rounds back. Here the statistics are float32 reductions over x itself, per channel (so that a
// conv's bias can be folded in afterwards, and so that a channels-last x is reduced over its outer
// dimension), and the normalisation, with the affine, any scale-shift and any pre_bias folded into
// one per-channel a*x + b, is one kernel. The results differ by roundings of the size the
// reference's own fp16 scale-shift makes; in exchange no float32 copy of the activation is made
// (3 GiB at 1280x768), and the reductions use the whole card where aten's group_norm runs one
// thread block per group: 32 for the sampler's batch of one, 54 % of the reference's UNet time.
std::pair<Tensor, Tensor> GroupNorm32Impl::folded_affine(const Tensor& x, const Tensor& scale, const Tensor& shift,
                                                         const Tensor& pre_bias) {
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
  auto a = per_channel(rstd) * weight;  // [N, C] float32
  auto b = bias - per_channel(mean) * a;
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

DownsampleImpl::DownsampleImpl(int64_t channels, bool use_conv) {
  if (use_conv) op_ = register_module("op", conv3x3(channels, channels, /*stride=*/2));
}

Tensor DownsampleImpl::forward(const Tensor& x) {
  return op_ ? op_->forward(x) : avg_pool(x, 2);
}

UpsampleImpl::UpsampleImpl(int64_t channels, bool use_conv) {
  if (use_conv) conv_ = register_module("conv", conv3x3(channels, channels));
}

Tensor UpsampleImpl::forward(const Tensor& x) {
  auto h = F::interpolate(x, F::InterpolateFuncOptions()
                                 .scale_factor(std::vector<double>{2.0, 2.0})
                                 .mode(torch::kNearest));
  return conv_ ? conv_->forward(h) : h;
}

ResBlockImpl::ResBlockImpl(const ResBlockOptions& o) : o_(o) {
  in_norm_ = GroupNorm32(o.channels);
  in_conv_ = conv3x3(o.channels, o.out_channels);
  in_layers = register_module("in_layers", torch::nn::Sequential(in_norm_, torch::nn::SiLU(), in_conv_));
  if (o.up) {
    h_up_ = register_module("h_upd", Upsample(o.channels, false));
    x_up_ = register_module("x_upd", Upsample(o.channels, false));
  } else if (o.down) {
    h_down_ = register_module("h_upd", Downsample(o.channels, false));
    x_down_ = register_module("x_upd", Downsample(o.channels, false));
  }
  const int64_t emb_out = o.use_scale_shift_norm ? 2 * o.out_channels : o.out_channels;
  emb_layers = register_module(
      "emb_layers", torch::nn::Sequential(torch::nn::SiLU(), torch::nn::Linear(o.emb_channels, emb_out)));
  out_norm_ = GroupNorm32(o.out_channels);
  out_dropout_ = torch::nn::Dropout(o.dropout);
  out_conv_ = zeroed(conv3x3(o.out_channels, o.out_channels));
  out_layers = register_module(
      "out_layers", torch::nn::Sequential(out_norm_, torch::nn::SiLU(), out_dropout_, out_conv_));
  if (o.out_channels != o.channels)
    skip_connection_ = register_module(
        "skip_connection", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.channels, o.out_channels, 1)));
}

std::pair<Tensor, Tensor> ResBlockImpl::in_conv_deferring_bias(Tensor h) {
  const auto& b = in_conv_->bias;
  if (!o_.use_scale_shift_norm || !b.defined() || !GroupNorm32Impl::folds(h)) return {conv(h, in_conv_, b, 1), {}};
  return {conv(h, in_conv_, {}, 1), b};
}

Tensor ResBlockImpl::conv(const Tensor& x, const torch::nn::Conv2d& c, const Tensor& bias, int64_t padding) {
  return lean_graph_ ? conv2d_input_grad(x, c->weight, bias, 1, padding) : torch::conv2d(x, c->weight, bias, 1, padding);
}

Tensor ResBlockImpl::forward(const Tensor& x, const Tensor& emb) {
  Tensor h = in_norm_->silu_norm(x, {}, {}, {}, /*consume=*/false);
  // Resample between the SiLU and the conv, and the skip path the same way.
  if (o_.up || o_.down) h = o_.up ? h_up_(h) : h_down_(h);
  auto [conv, pre_bias] = in_conv_deferring_bias(std::move(h));  // [N, Cout, H', W']; h freed
  h = out_branch(std::move(conv), pre_bias, emb);
  // The skip path is resampled only now: at the top of the UNet an upsampled copy of x is a
  // full-resolution tensor, better not held through the branch.
  auto skip = o_.up ? x_up_(x) : o_.down ? x_down_(x) : x;
  if (skip_connection_) skip = project_skip(skip);
  return torch::GradMode::is_enabled() ? skip + h : h.add_(skip);  // (a + b == b + a exactly)
}

Tensor ResBlockImpl::forward_consuming(Tensor x, const Tensor& emb) {
  if (torch::GradMode::is_enabled() || o_.up || o_.down || !skip_connection_) return forward(x, emb);
  auto skip = project_skip(x);                                       // [N, Cout, H, W]
  x = in_norm_->silu_norm(std::move(x), {}, {}, {}, /*consume=*/true);
  auto [conv, pre_bias] = in_conv_deferring_bias(std::move(x));  // the input's memory is free from here
  return skip.add_(out_branch(std::move(conv), pre_bias, emb));
}

Tensor ResBlockImpl::project_skip(const Tensor& x) {
  return conv(x, skip_connection_, skip_connection_->bias, 0);  // 1x1
}

Tensor ResBlockImpl::out_branch(Tensor h, const Tensor& pre_bias, const Tensor& emb) {
  auto emb_out = emb_layers->forward(emb).to(h.scalar_type());  // [N, 2*Cout or Cout]
  while (emb_out.dim() < h.dim()) emb_out = emb_out.unsqueeze(-1);  // [N, *, 1, 1]
  if (o_.use_scale_shift_norm) {
    auto ss = emb_out.chunk(2, 1);  // scale first, then shift
    h = out_norm_->silu_norm(std::move(h), ss[0], ss[1], pre_bias, /*consume=*/true);
    return conv(out_dropout_(h), out_conv_, out_conv_->bias, 1);
  }
  DISCO_CHECK(!pre_bias.defined(), RuntimeError, "ResBlock: a deferred conv bias needs use_scale_shift_norm");
  return out_layers->forward(h + emb_out);
}

AttentionBlockImpl::AttentionBlockImpl(int64_t channels, int64_t num_heads, bool new_order)
    : num_heads_(num_heads), new_order_(new_order) {
  DISCO_CHECK(num_heads > 0 && channels % num_heads == 0, SettingsError, "attention block with ",
              channels, " channels cannot be split into ", num_heads, " heads");
  norm_ = register_module("norm", GroupNorm32(channels));
  qkv_ = register_module("qkv", torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, 3 * channels, 1)));
  proj_out_ = register_module("proj_out", zeroed(torch::nn::Conv1d(torch::nn::Conv1dOptions(channels, channels, 1))));
}

Tensor AttentionBlockImpl::forward(const Tensor& x_in) {
  const auto shape = x_in.sizes().vec();
  const int64_t b = shape[0], c = shape[1];
  auto x = x_in.reshape({b, c, -1});  // [N, C, T], token = y*W + x
  const int64_t length = x.size(2);
  auto qkv = qkv_(norm_(x));  // [N, 3C, T]
  const int64_t ch = c / num_heads_;
  if (fused_ && fused_attention_available()) {
    // Same order of q|k|v channels as below; the kernel applies 1/sqrt(ch) and keeps the logits
    // in fp32, so the reference's split scaling is not needed.
    const auto parts = new_order_ ? qkv.chunk(3, 1) : qkv.reshape({b * num_heads_, 3 * ch, length}).split(ch, 1);
    const auto heads = [&](const Tensor& t) {  // [N*heads or N, heads*ch, T] -> [N, heads, T, ch]
      return t.reshape({b, num_heads_, ch, length}).transpose(2, 3).contiguous();
    };
    const auto a = fused_attention(heads(parts[0]), heads(parts[1]), heads(parts[2]));  // [N, heads, T, ch]
    const auto h = proj_out_(a.transpose(2, 3).reshape({b, c, length}));
    return (x + h).reshape(shape);
  }
  // ch^(-1/4) on q and k each: the 1/sqrt(ch) split keeps fp16 logits in range.
  const double scale = 1.0 / std::sqrt(std::sqrt(static_cast<double>(ch)));
  Tensor q, k, v;  // each [N*heads, ch, T]
  if (new_order_) {
    auto parts = qkv.chunk(3, 1);  // all q, then all k, then all v
    q = (parts[0] * scale).view({b * num_heads_, ch, length});
    k = (parts[1] * scale).view({b * num_heads_, ch, length});
    v = parts[2].reshape({b * num_heads_, ch, length});
  } else {
    // QUIRK(models-spec §1.2): legacy order, each head's 3*ch channels are contiguous q|k|v.
    auto parts = qkv.reshape({b * num_heads_, 3 * ch, length}).split(ch, 1);
    q = parts[0] * scale;
    k = parts[1] * scale;
    v = parts[2];
  }
  auto weight = torch::einsum("bct,bcs->bts", {q, k});                              // [N*heads, T, T]
  weight = torch::softmax(weight.to(torch::kFloat32), -1).to(weight.scalar_type());  // softmax in fp32
  auto a = torch::einsum("bts,bcs->bct", {weight, v}).reshape({b, -1, length});      // [N, C, T]
  auto h = proj_out_(a);
  return (x + h).reshape(shape);  // [N, C, H, W]
}

void TimestepEmbedSequentialImpl::push_back(const ResBlock& m) {
  if (layers_.empty()) first_res_ = m.ptr();
  register_module(next_name(), m);
  layers_.push_back([p = m.ptr()](const Tensor& x, const Tensor& emb) { return p->forward(x, emb); });
}
void TimestepEmbedSequentialImpl::push_back(const AttentionBlock& m) {
  register_module(next_name(), m);
  layers_.push_back([p = m.ptr()](const Tensor& x, const Tensor&) { return p->forward(x); });
}
void TimestepEmbedSequentialImpl::push_back(const Downsample& m) {
  register_module(next_name(), m);
  layers_.push_back([p = m.ptr()](const Tensor& x, const Tensor&) { return p->forward(x); });
}
void TimestepEmbedSequentialImpl::push_back(const Upsample& m) {
  register_module(next_name(), m);
  layers_.push_back([p = m.ptr()](const Tensor& x, const Tensor&) { return p->forward(x); });
}
void TimestepEmbedSequentialImpl::push_back(const torch::nn::Conv2d& m) {
  register_module(next_name(), m);
  layers_.push_back([p = m.ptr()](const Tensor& x, const Tensor&) { return p->forward(x); });
}

Tensor TimestepEmbedSequentialImpl::run_layers(Tensor x, const Tensor& emb) const {
  for (const auto& layer : layers_) x = layer(x, emb);
  return x;
}

Tensor TimestepEmbedSequentialImpl::forward(Tensor x, const Tensor& emb) {
  if (checkpointing_) return checkpoint(run_, x, emb, x.new_empty({0}), offload_);
  return run_layers(std::move(x), emb);
}

Tensor TimestepEmbedSequentialImpl::forward_with_skip(Tensor h, Tensor skip, const Tensor& emb) {
  if (checkpointing_ && torch::GradMode::is_enabled()) return checkpoint_concat(run_cat_, h, skip, emb, offload_);
  auto x = torch::cat({h, skip}, 1);  // current h first, skip second
  h.reset();
  skip.reset();
  return run_on_cat(std::move(x), emb);
}

Tensor TimestepEmbedSequentialImpl::run_on_cat(Tensor x, const Tensor& emb) const {
  // The concatenation is this block's own: without gradients its first ResBlock may overwrite it.
  size_t i = 0;
  if (first_res_ && !torch::GradMode::is_enabled()) {
    x = first_res_->forward_consuming(std::move(x), emb);
    i = 1;
  }
  for (; i < layers_.size(); ++i) x = layers_[i](x, emb);
  return x;
}

}  // namespace disco::diffusion
