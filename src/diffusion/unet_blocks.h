// Building blocks of guided_diffusion.unet (models-spec §1.2, dd-spec §3.2): GroupNorm32,
// timestep_embedding, ResBlock, AttentionBlock (legacy and new qkv order), Downsample/Upsample
// and TimestepEmbedSequential. Member names are the checkpoint's.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace disco::diffusion {

// Sinusoidal embedding of float model time t [N] -> [N, dim]: cosines first, then sines.
torch::Tensor timestep_embedding(const torch::Tensor& t, int64_t dim, double max_period = 10000.0);

// silu(a * x + b) for a and b that broadcast over x (a GroupNorm's per-channel affine) whose
// recorded graph keeps x, a and b rather than the normalised activation; the backward pass
// recomputes it. Gradients are autograd's through addcmul and silu, up to the order of a's sums.
torch::Tensor silu_of_affine(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& b);

// GroupNorm(32, C, eps 1e-5) that normalises in float32 and returns the input's dtype.
class GroupNorm32Impl : public torch::nn::Module {
 public:
  explicit GroupNorm32Impl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  // use_scale_shift_norm's norm(x) * (1 + scale) + shift, scale and shift [N, C, 1, 1] (both
  // undefined: the plain norm).
  torch::Tensor forward_scale_shift(const torch::Tensor& x, const torch::Tensor& scale, const torch::Tensor& shift);
  // The same for an x nobody else reads afterwards: without gradients an fp16/bf16 (or CUDA) x is
  // normalised in place. `pre_bias` [C]: a per-channel bias x still lacks (its conv ran without
  // it); the norm is of x + pre_bias.
  torch::Tensor forward_scale_shift_consuming(torch::Tensor x, const torch::Tensor& scale, const torch::Tensor& shift,
                                              const torch::Tensor& pre_bias = {});
  // silu(norm of x + pre_bias, scale-shifted). `consume`: x is the caller's to overwrite (without
  // gradients it is normalised in place). With gradients, where folded, the recorded graph keeps x
  // and the per-channel affine, not the normalised tensor.
  torch::Tensor silu_norm(torch::Tensor x, const torch::Tensor& scale, const torch::Tensor& shift,
                          const torch::Tensor& pre_bias, bool consume);
  // With gradients, silu_norm keeps x and the affine rather than the normalised tensor (an
  // activation less per norm; the backward pass recomputes it). Off by default (see UNetModel).
  void set_lean_graph(bool on) { lean_graph_ = on; }
  // Whether x is normalised by folded_affine (fp16/bf16, or on CUDA) rather than aten's group_norm
  // (float32 on the CPU: the parity path). Only there does a pre_bias save work.
  static bool folds(const torch::Tensor& x);
  torch::Tensor weight, bias;

 private:
  // The norm as out = a * x + b: a and b [N, C, 1...] in x's dtype.
  std::pair<torch::Tensor, torch::Tensor> folded_affine(const torch::Tensor& x, const torch::Tensor& scale,
                                                        const torch::Tensor& shift, const torch::Tensor& pre_bias);
  bool lean_graph_ = false;
};
TORCH_MODULE(GroupNorm32);

// Halves H and W: Conv3x3 stride 2 (key `op`) or, without conv, AvgPool2d(2) (no parameters).
class DownsampleImpl : public torch::nn::Module {
 public:
  DownsampleImpl(int64_t channels, bool use_conv);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d op_{nullptr};
};
TORCH_MODULE(Downsample);

// Doubles H and W by nearest neighbour, then (use_conv) a Conv3x3 (key `conv`).
class UpsampleImpl : public torch::nn::Module {
 public:
  UpsampleImpl(int64_t channels, bool use_conv);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv_{nullptr};
};
TORCH_MODULE(Upsample);

struct ResBlockOptions {
  int64_t channels, emb_channels, out_channels;
  double dropout = 0.0;
  bool use_scale_shift_norm = true;
  bool up = false, down = false;
};

class ResBlockImpl : public torch::nn::Module {
 public:
  explicit ResBlockImpl(const ResBlockOptions& o);
  // x [N, Cin, H, W], emb [N, E] -> [N, Cout, H', W'] (H' = 2H up, H/2 down).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);
  // forward(x, emb) for an x nobody else holds (an output block's concatenation), without
  // gradients: the skip projection is taken first and x is then normalised in place.
  torch::Tensor forward_consuming(torch::Tensor x, const torch::Tensor& emb);
  // Convolutions whose recorded graph keeps only the weight (CUDA; see common/conv.h).
  void set_lean_graph(bool on) { lean_graph_ = on; }

 private:
  torch::Tensor conv(const torch::Tensor& x, const torch::nn::Conv2d& c, const torch::Tensor& bias, int64_t padding);
  // in_conv(h), and the bias it still lacks: undefined when it has it. The bias is left out where
  // out_norm can take it into its statistics instead, which saves a pass over the activation.
  std::pair<torch::Tensor, torch::Tensor> in_conv_deferring_bias(torch::Tensor h);
  torch::Tensor project_skip(const torch::Tensor& x);  // skip_connection (1x1 conv)
  // emb, norm (of h + pre_bias), SiLU, conv
  torch::Tensor out_branch(torch::Tensor h, const torch::Tensor& pre_bias, const torch::Tensor& emb);
  ResBlockOptions o_;
  torch::nn::Sequential in_layers, emb_layers, out_layers;
  GroupNorm32 in_norm_{nullptr}, out_norm_{nullptr};
  torch::nn::Conv2d in_conv_{nullptr}, out_conv_{nullptr}, skip_connection_{nullptr};
  torch::nn::Dropout out_dropout_{nullptr};
  Downsample h_down_{nullptr}, x_down_{nullptr};
  Upsample h_up_{nullptr}, x_up_{nullptr};
  bool lean_graph_ = false;
};
TORCH_MODULE(ResBlock);

class AttentionBlockImpl : public torch::nn::Module {
 public:
  AttentionBlockImpl(int64_t channels, int64_t num_heads, bool new_order);
  // x [N, C, H, W] -> [N, C, H, W]
  torch::Tensor forward(const torch::Tensor& x);
  // On (the default): fused_attention where the libtorch has it. Off: the reference's explicit
  // softmax(q k^T) v, e.g. to compare against it (disco bench --no-fused-attention).
  void set_fused_attention(bool on) { fused_ = on; }

 private:
  int64_t num_heads_;
  bool new_order_;
  bool fused_ = true;
  GroupNorm32 norm_{nullptr};
  torch::nn::Conv1d qkv_{nullptr}, proj_out_{nullptr};
};
TORCH_MODULE(AttentionBlock);

// Children registered as "0", "1", ...; ResBlocks receive emb, the other layers x only.
class TimestepEmbedSequentialImpl : public torch::nn::Module {
 public:
  void push_back(const ResBlock& m);
  void push_back(const AttentionBlock& m);
  void push_back(const Downsample& m);
  void push_back(const Upsample& m);
  void push_back(const torch::nn::Conv2d& m);
  // With checkpointing on and gradients wanted, the layers' activations are not kept: the
  // backward pass runs the block again (guided-diffusion's use_checkpoint, here per block).
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& emb);
  // An output block: its input is cat(h, skip). Checkpointed, it keeps h and the skip (which the
  // UNet holds anyway) rather than a concatenated copy of both (checkpoint_concat).
  // Without gradients, h and skip moved in are released once concatenated.
  torch::Tensor forward_with_skip(torch::Tensor h, torch::Tensor skip, const torch::Tensor& emb);
  torch::Tensor run_layers(torch::Tensor x, const torch::Tensor& emb) const;
  // offload: the inputs kept for the backward pass wait in host memory (checkpoint()).
  void set_checkpointing(bool on, bool offload = false) {
    checkpointing_ = on;
    offload_ = on && offload;
  }

 private:
  torch::Tensor run_on_cat(torch::Tensor x, const torch::Tensor& emb) const;
  std::string next_name() const { return std::to_string(layers_.size()); }
  std::vector<std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>> layers_;
  std::shared_ptr<ResBlockImpl> first_res_;  // the first layer, when it is a ResBlock
  bool checkpointing_ = false, offload_ = false;
  // The blocks as member callables: checkpointing holds them by address until the backward pass.
  std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)> run_ =
      [this](const torch::Tensor& x, const torch::Tensor& emb, const torch::Tensor&) { return run_layers(x, emb); };
  std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)> run_cat_ =
      [this](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor& emb) { return run_on_cat(x, emb); };
};
TORCH_MODULE(TimestepEmbedSequential);

}  // namespace disco::diffusion
