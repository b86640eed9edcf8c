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

// How the blocks compute (UNetModel::set_block_execution). The classes below hold guided-diffusion's
// forward, op for op; with `fast` (the default) ResBlocks and norms run the speed layer instead
// (unet_blocks_fast.h): the same arithmetic in float32 on the CPU, bit for bit; on CUDA and in
// fp16/bf16 folded norms, equal up to rounding.
struct BlockExecution {
  bool fast = true;
  // With gradients, graphs that keep fewer activations (the speed layer's silu_of_affine, and on
  // CUDA convolutions keeping only their weights). Only with `fast`.
  bool lean_graph = false;
};

// GroupNorm(32, C, eps 1e-5) that normalises in float32 and returns the input's dtype.
class GroupNorm32Impl : public torch::nn::Module {
 public:
  static constexpr int64_t kGroups = 32;
  static constexpr double kEps = 1e-5;
  explicit GroupNorm32Impl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  void set_execution(const BlockExecution& e) { execution_ = e; }
  const BlockExecution& execution() const { return execution_; }
  torch::Tensor weight, bias;

 private:
  BlockExecution execution_;
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

// guided_diffusion.unet.ResBlock. The layers are public, as the Python's attributes are, for the
// speed layer (fast::res_block).
class ResBlockImpl : public torch::nn::Module {
 public:
  explicit ResBlockImpl(const ResBlockOptions& o);
  // x [N, Cin, H, W], emb [N, E] -> [N, Cout, H', W'] (H' = 2H up, H/2 down).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb);
  void set_execution(const BlockExecution& e) { execution_ = e; }
  const BlockExecution& execution() const { return execution_; }
  const ResBlockOptions& options() const { return o_; }

  // in_layers = [in_norm, SiLU, in_conv]; out_layers = [out_norm, SiLU, out_dropout, out_conv].
  torch::nn::Sequential in_layers, emb_layers, out_layers;
  GroupNorm32 in_norm{nullptr}, out_norm{nullptr};
  torch::nn::Conv2d in_conv{nullptr}, out_conv{nullptr};
  torch::nn::Dropout out_dropout{nullptr};
  torch::nn::Conv2d skip_connection{nullptr};  // absent where Cin == Cout (the identity)
  // h_upd / x_upd: one of the pairs, for up or down blocks.
  Upsample h_up{nullptr}, x_up{nullptr};
  Downsample h_down{nullptr}, x_down{nullptr};

 private:
  ResBlockOptions o_;
  BlockExecution execution_;
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
