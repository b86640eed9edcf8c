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
#include "diffusion/unet_blocks_fast.h"

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

Tensor GroupNorm32Impl::forward(const Tensor& x) {
  if (execution_.fast) return fast::group_norm(*this, x);
  return torch::group_norm(x.to(torch::kFloat32), kGroups, weight, bias, kEps).to(x.scalar_type());
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
  in_norm = GroupNorm32(o.channels);
  in_conv = conv3x3(o.channels, o.out_channels);
  in_layers = register_module("in_layers", torch::nn::Sequential(in_norm, torch::nn::SiLU(), in_conv));
  if (o.up) {
    h_up = register_module("h_upd", Upsample(o.channels, false));
    x_up = register_module("x_upd", Upsample(o.channels, false));
  } else if (o.down) {
    h_down = register_module("h_upd", Downsample(o.channels, false));
    x_down = register_module("x_upd", Downsample(o.channels, false));
  }
  const int64_t emb_out = o.use_scale_shift_norm ? 2 * o.out_channels : o.out_channels;
  emb_layers = register_module(
      "emb_layers", torch::nn::Sequential(torch::nn::SiLU(), torch::nn::Linear(o.emb_channels, emb_out)));
  out_norm = GroupNorm32(o.out_channels);
  out_dropout = torch::nn::Dropout(o.dropout);
  out_conv = zeroed(conv3x3(o.out_channels, o.out_channels));
  out_layers = register_module(
      "out_layers", torch::nn::Sequential(out_norm, torch::nn::SiLU(), out_dropout, out_conv));
  if (o.out_channels != o.channels)
    skip_connection = register_module(
        "skip_connection", torch::nn::Conv2d(torch::nn::Conv2dOptions(o.channels, o.out_channels, 1)));
}

// ResBlock._forward.
Tensor ResBlockImpl::forward(const Tensor& x_in, const Tensor& emb) {
  if (execution_.fast) return fast::res_block(*this, x_in, emb);
  Tensor x = x_in, h;
  if (o_.up || o_.down) {  // in_layers[:-1], resample h and x alike, in_layers[-1]
    h = torch::silu(in_norm(x));
    h = o_.up ? h_up(h) : h_down(h);
    x = o_.up ? x_up(x) : x_down(x);
    h = in_conv(h);
  } else {
    h = in_layers->forward(x);
  }
  auto emb_out = emb_layers->forward(emb).to(h.scalar_type());
  while (emb_out.dim() < h.dim()) emb_out = emb_out.unsqueeze(-1);
  if (o_.use_scale_shift_norm) {
    const auto scale_shift = emb_out.chunk(2, 1);
    h = out_norm(h) * (1 + scale_shift[0]) + scale_shift[1];
    h = out_conv(out_dropout(torch::silu(h)));  // out_layers[1:]
  } else {
    h = out_layers->forward(h + emb_out);
  }
  return (skip_connection ? skip_connection(x) : x) + h;
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
  if (first_res_ && first_res_->execution().fast && !torch::GradMode::is_enabled()) {
    x = fast::res_block_consuming(*first_res_, std::move(x), emb);
    i = 1;
  }
  for (; i < layers_.size(); ++i) x = layers_[i](x, emb);
  return x;
}

}  // namespace disco::diffusion
