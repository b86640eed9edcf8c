// clip.model.{LayerNorm, QuickGELU, ResidualAttentionBlock, Transformer}, models-spec §3.3.
#include "clip/transformer.h"

#include <cmath>

#include "common/attention.h"
#include "common/error.h"

namespace disco::clip {

LayerNormImpl::LayerNormImpl(int64_t width) {
  weight = register_parameter("weight", torch::ones({width}));
  bias = register_parameter("bias", torch::zeros({width}));
}

torch::Tensor LayerNormImpl::forward(const torch::Tensor& x) {
  auto y = torch::layer_norm(x.to(torch::kFloat), {weight.size(0)}, weight, bias, 1e-5);
  return y.to(x.scalar_type());
}

namespace {
// x @ w^T + b over x's last dimension as one addmm on the rows, so the bias is added inside the
// matrix product: aten's linear on these [L, N, d] inputs ran a matmul and then a separate
// broadcast add (3 ms of ViT-B/16's 29 ms pass over 64 cuts on the GPU).
torch::Tensor linear_rows(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  auto shape = x.sizes().vec();
  shape.back() = w.size(0);
  return torch::addmm(b, x.reshape({-1, x.size(-1)}), w.t()).view(shape);
}
torch::Tensor linear_rows(const torch::Tensor& x, const torch::nn::LinearImpl& l) { return linear_rows(x, l.weight, l.bias); }

torch::Tensor quick_gelu(const torch::Tensor& x) { return x * torch::sigmoid(1.702 * x); }

// d/dx of quick_gelu: s + 1.702 x s (1 - s) with s = sigmoid(1.702 x).
torch::Tensor quick_gelu_slope(const torch::Tensor& x) {
  const auto s = torch::sigmoid(1.702 * x);
  return torch::addcmul(s, x * 1.702, s * (1 - s));
}

// x * sigmoid(1.702 x) keeping only x for the backward pass, where autograd would keep x and the
// sigmoid: one [L, N, 4d] activation less per layer (0.9 GiB for ViT-B/16 over 64 cuts in fp16).
// The derivative is recomputed from x.
struct QuickGELUFunction : public torch::autograd::Function<QuickGELUFunction> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return quick_gelu(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    return {grad_out[0] * quick_gelu_slope(ctx->get_saved_variables()[0])};
  }
};

// act(x @ w^T + b) keeping x (the MLP's input, width wide) for the backward pass, which
// recomputes the hidden layer (4 x width): one more c_fc product there, three quarters less of the
// largest saved activation (ViT-B/16 over 64 cuts in fp16: 0.7 GiB).
struct LeanMlpHidden : public torch::autograd::Function<LeanMlpHidden> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               const torch::Tensor& b, bool quick) {
    ctx->save_for_backward({x, w, b});
    ctx->saved_data["quick"] = quick;
    const auto h = linear_rows(x, w, b);
    return quick ? quick_gelu(h) : torch::gelu(h);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &x = saved[0], &w = saved[1];
    const auto h = linear_rows(x, w, saved[2]);
    const auto gh = ctx->saved_data["quick"].toBool() ? grad_out[0] * quick_gelu_slope(h)
                                                      : at::gelu_backward(grad_out[0], h);  // exact (erf) GELU
    const auto gx = gh.reshape({-1, gh.size(-1)}).mm(w).view(x.sizes());
    return {gx, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor QuickGELUImpl::forward(const torch::Tensor& x) {
  if (torch::GradMode::is_enabled() && x.requires_grad()) return QuickGELUFunction::apply(x);
  return quick_gelu(x);
}

torch::Tensor scaled_dot_product_heads(const torch::Tensor& q_in, const torch::Tensor& k_in,
                                       const torch::Tensor& v_in, int64_t heads,
                                       const torch::Tensor& mask, bool fused) {
  // q_in [Lq,N,d]; k_in, v_in [Lk,N,d]
  const int64_t Lq = q_in.size(0), N = q_in.size(1), d = q_in.size(2), Lk = k_in.size(0);
  const int64_t head_dim = d / heads;
  if (fused && fused_attention_available()) {
    const auto split = [&](const torch::Tensor& t) {  // [L,N,d] -> [N,h,L,hd], contiguous for the kernels
      return t.reshape({t.size(0), N, heads, head_dim}).permute({1, 2, 0, 3}).contiguous();
    };
    const auto o = fused_attention(split(q_in), split(k_in), split(v_in), mask);  // [N,h,Lq,hd]
    return o.permute({2, 0, 1, 3}).reshape({Lq, N, d});
  }
  auto q = q_in.reshape({Lq, N * heads, head_dim}).transpose(0, 1);  // [N*h,Lq,hd]
  auto k = k_in.reshape({Lk, N * heads, head_dim}).transpose(0, 1);  // [N*h,Lk,hd]
  auto v = v_in.reshape({Lk, N * heads, head_dim}).transpose(0, 1);  // [N*h,Lk,hd]
  q = q / std::sqrt(static_cast<double>(head_dim));
  auto logits = mask.defined() ? torch::baddbmm(mask.to(q.scalar_type()), q, k.transpose(1, 2))
                               : torch::bmm(q, k.transpose(1, 2));  // [N*h,Lq,Lk]
  auto o = torch::bmm(torch::softmax(logits, -1), v);                // [N*h,Lq,hd]
  return o.transpose(0, 1).reshape({Lq, N, d});
}

MultiheadAttentionImpl::MultiheadAttentionImpl(int64_t width, int64_t heads_) : heads(heads_) {
  DISCO_CHECK(heads >= 1 && width % heads == 0, ModelMismatchError, "attention width ", width,
              " is not divisible into ", heads, " heads");
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * width, width}));
  in_proj_bias = register_parameter("in_proj_bias", torch::zeros({3 * width}));
  torch::nn::init::xavier_uniform_(in_proj_weight);
  out_proj = register_module("out_proj", torch::nn::Linear(width, width));
}

torch::Tensor MultiheadAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  // x [L,N,d]; rows 0..d-1 of in_proj give q, then k, then v.
  auto qkv = linear_rows(x, in_proj_weight, in_proj_bias).chunk(3, -1);
  return linear_rows(scaled_dot_product_heads(qkv[0], qkv[1], qkv[2], heads, mask, fused), *out_proj);
}

ResidualAttentionBlockImpl::ResidualAttentionBlockImpl(int64_t width, int64_t heads, MlpActivation act_)
    : act(act_) {
  attn = register_module("attn", MultiheadAttention(width, heads));
  ln_1 = register_module("ln_1", LayerNorm(width));
  torch::nn::AnyModule gelu = act == MlpActivation::QuickGELU ? torch::nn::AnyModule(QuickGELU())
                                                              : torch::nn::AnyModule(torch::nn::GELU());
  mlp = register_module("mlp", torch::nn::Sequential({
                                   {"c_fc", torch::nn::AnyModule(torch::nn::Linear(width, 4 * width))},
                                   {"gelu", gelu},
                                   {"c_proj", torch::nn::AnyModule(torch::nn::Linear(4 * width, width))},
                               }));
  ln_2 = register_module("ln_2", LayerNorm(width));
}

torch::Tensor ResidualAttentionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& mask) {
  auto h = x + attn(ln_1(x), mask);
  // mlp: c_fc, gelu, c_proj
  const auto& c_fc = *mlp->ptr(0)->as<torch::nn::LinearImpl>();
  const auto in = ln_2(h);
  torch::Tensor m;
  const bool quick = act == MlpActivation::QuickGELU;
  if (lean_mlp_ && torch::GradMode::is_enabled() && in.requires_grad() && !c_fc.weight.requires_grad()) {
    m = LeanMlpHidden::apply(in, c_fc.weight, c_fc.bias, quick);
  } else {
    const auto hidden = linear_rows(in, c_fc);
    m = quick ? mlp->ptr(1)->as<QuickGELUImpl>()->forward(hidden) : torch::gelu(hidden);
  }
  return h + linear_rows(m, *mlp->ptr(2)->as<torch::nn::LinearImpl>());
}

TransformerImpl::TransformerImpl(int64_t width, int64_t layers, int64_t heads, MlpActivation act) {
  resblocks = register_module("resblocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < layers; ++i) resblocks->push_back(ResidualAttentionBlock(width, heads, act));
}

void TransformerImpl::set_fused_attention(bool on) {
  for (const auto& block : *resblocks) block->as<ResidualAttentionBlockImpl>()->set_fused_attention(on);
}

void TransformerImpl::set_lean_mlp(bool on) {
  for (const auto& block : *resblocks) block->as<ResidualAttentionBlockImpl>()->set_lean_mlp(on);
  lean_mlp_ = on;
}

torch::Tensor TransformerImpl::forward(torch::Tensor x, const torch::Tensor& mask) {
  for (const auto& block : *resblocks) x = block->as<ResidualAttentionBlockImpl>()->forward(x, mask);
  return x;
}

}  // namespace disco::clip
