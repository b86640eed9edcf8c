// clip.model.{LayerNorm, QuickGELU, ResidualAttentionBlock, Transformer} and the
// nn.MultiheadAttention they use, models-spec §3.3.
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace disco::clip {

// LayerNorm (eps 1e-5) that computes in float32 and casts back to the input dtype, so that it
// keeps float32 weights in the mixed-precision model.
class LayerNormImpl : public torch::nn::Module {
 public:
  explicit LayerNormImpl(int64_t width);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight, bias;
};
TORCH_MODULE(LayerNorm);

// x * sigmoid(1.702 x)
class QuickGELUImpl : public torch::nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(QuickGELU);

// The MLP activation of a ResidualAttentionBlock: OpenAI's CLIP and open_clip's "-quickgelu"
// models use QuickGELU; open_clip's other models nn.GELU (exact, erf form). The key "mlp.gelu"
// holds no tensors either way, so the weights cannot tell the two apart.
enum class MlpActivation { QuickGELU, GELU };

// Scaled dot-product attention over already projected q [Lq,N,d], k and v [Lk,N,d], split into
// `heads` contiguous feature slices, with an optional additive mask [Lq,Lk]. Returns the
// concatenated heads [Lq,N,d], before the output projection. Same op order as PyTorch 1.13's
// multi_head_attention_forward: q / sqrt(head_dim), baddbmm(mask, q, kᵀ), softmax, bmm.
// `fused`: the same in one kernel where the libtorch has it (common/attention.h), equal up to
// rounding; off, the reference's op order (to compare with it).
torch::Tensor scaled_dot_product_heads(const torch::Tensor& q, const torch::Tensor& k,
                                       const torch::Tensor& v, int64_t heads,
                                       const torch::Tensor& mask = {}, bool fused = true);

// nn.MultiheadAttention(d, heads) as CLIP uses it: self-attention on [L,N,d], packed in_proj.
class MultiheadAttentionImpl : public torch::nn::Module {
 public:
  MultiheadAttentionImpl(int64_t width, int64_t heads);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});
  torch::Tensor in_proj_weight, in_proj_bias;
  torch::nn::Linear out_proj{nullptr};
  int64_t heads;
  bool fused = true;  // scaled_dot_product_heads' `fused`
};
TORCH_MODULE(MultiheadAttention);

class ResidualAttentionBlockImpl : public torch::nn::Module {
 public:
  ResidualAttentionBlockImpl(int64_t width, int64_t heads, MlpActivation act = MlpActivation::QuickGELU);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& mask = {});
  // For a tight GPU budget (chosen by the memory plan): a recorded graph keeps the MLP's input
  // (width wide) instead of its hidden layer (4 x width) and recomputes c_fc in the backward pass.
  // Same values; the input gradient differs from the plain graph's only by rounding.
  void set_lean_mlp(bool on) { lean_mlp_ = on; }
  void set_fused_attention(bool on) { attn->fused = on; }
  MultiheadAttention attn{nullptr};
  LayerNorm ln_1{nullptr};
  torch::nn::Sequential mlp{nullptr};  // c_fc, gelu (QuickGELU or torch::nn::GELU), c_proj
  LayerNorm ln_2{nullptr};
  MlpActivation act;

 private:
  bool lean_mlp_ = false;
};
TORCH_MODULE(ResidualAttentionBlock);

class TransformerImpl : public torch::nn::Module {
 public:
  TransformerImpl(int64_t width, int64_t layers, int64_t heads, MlpActivation act = MlpActivation::QuickGELU);
  // x [L,N,width]; mask [L,L] additive or undefined.
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& mask = {});
  void set_lean_mlp(bool on);  // every block's (ResidualAttentionBlockImpl::set_lean_mlp)
  void set_fused_attention(bool on);  // every block's
  bool lean_mlp() const { return lean_mlp_; }
  torch::nn::ModuleList resblocks{nullptr};

 private:
  bool lean_mlp_ = false;
};
TORCH_MODULE(Transformer);

}  // namespace disco::clip
