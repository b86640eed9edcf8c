// guided_diffusion.unet.UNetModel for the configurations DD uses (models-spec §1.3–1.7,
// dd-spec §3.2–3.3): resblock_updown or conv resampling, scale-shift norm or additive emb,
// num_heads or num_head_channels, legacy or new qkv order, learn_sigma.
#pragma once
#include <torch/torch.h>

#include "diffusion/unet_blocks.h"
#include "diffusion/unet_config.h"

namespace disco::diffusion {

class UNetModelImpl : public torch::nn::Module {
 public:
  // Always built in float32 (the checkpoints' dtype); config.use_fp16 is not applied here because
  // DD uses it on GPUs only: call set_precision after moving the model to its device.
  explicit UNetModelImpl(const UNetConfig& config);

  // DD's convert_to_fp16() split (models-spec §1.7): only the Conv1d/Conv2d weights and biases in
  // input_blocks, middle_block and output_blocks take `torso` (kHalf as DD on GPU, kBFloat16, or
  // kFloat32 to undo); time_embed, GroupNorm affine, emb Linear layers and `out` stay float32.
  void set_precision(torch::Dtype torso);
  torch::Dtype torso_dtype() const { return torso_dtype_; }

  // guided-diffusion's use_checkpoint (DD turns it on): when a gradient is taken through the UNet
  // (use_secondary_model off), each block's activations are recomputed in the backward pass
  // instead of kept. Same numbers, much less memory, about one more forward pass of time.
  // offload (for a tight GPU budget, chosen by the memory plan): the blocks' inputs kept for the
  // backward pass wait in pinned host memory, about 4 GiB at 1280x768 with the 512 model. The
  // cost is copying them out in the forward pass and back in the backward pass.
  void set_gradient_checkpointing(bool on, bool offload = false);
  bool checkpoint_offload() const { return checkpoint_offload_; }

  // NHWC activations and conv weights in the torso (cuDNN's tensor-core layout for half
  // precision); the numbers are the same up to the convolution algorithms' rounding.
  void set_channels_last(bool on);

  // For a tight GPU memory budget (chosen by the memory plan): in a forward pass without
  // gradients (the sampler's), the full-resolution skips wait in pinned host memory until their
  // output block takes them back (on the CPU: in a copy, which saves nothing). They are otherwise
  // held through the whole U, where the peak falls (1280x768, 512 model: three skips of 0.23 GiB
  // each). The cost is their round trips over PCIe. Outputs are bit-identical.
  void set_offload_skips(bool on) { offload_skips_ = on; }
  bool offload_skips() const { return offload_skips_; }

  // How every ResBlock and GroupNorm computes (unet_blocks.h): the speed layer by default, or
  // guided-diffusion's forward op for op (fast off: what the speed layer is checked against).
  void set_block_execution(const BlockExecution& e);
  const BlockExecution& block_execution() const { return block_execution_; }
  // A recorded graph (the full-UNet gradient) that keeps fewer activations: convolutions keep only
  // their weights (CUDA), each SiLU of a norm keeps the norm's input. Slower; the memory plan turns
  // it on when a budget needs it.
  void set_lean_graph(bool on);
  bool lean_graph() const { return block_execution_.lean_graph; }

  // Every attention block's choice (AttentionBlockImpl::set_fused_attention): on by default, where
  // the libtorch has the fused kernels. fused_attention(): whether they are in use.
  void set_fused_attention(bool on);
  bool fused_attention() const;

  // x [N, in, H, W] float32 (H, W divisible by 2^(levels-1)), t [N] float32 model time
  // -> [N, out, H, W] float32 (eps, then the variance values when learn_sigma).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& t);

  const UNetConfig& config() const { return config_; }

 private:
  // Where the constructor is on its way down and up the U: the channels, the downsampling factor,
  // and the channels of the skips the input blocks leave for the output blocks.
  struct UNetWalk {
    int64_t ch = 0;
    int64_t ds = 1;
    std::vector<int64_t> skip_chans;
  };
  void build_input_blocks(UNetWalk& w);
  void build_middle_block(const UNetWalk& w);
  void build_output_blocks(UNetWalk& w);

  UNetConfig config_;
  torch::Dtype torso_dtype_ = torch::kFloat32;
  bool channels_last_ = false;
  bool offload_skips_ = false;
  bool checkpoint_offload_ = false;
  BlockExecution block_execution_;
  bool fused_attention_ = true;
  torch::nn::Sequential time_embed{nullptr};
  torch::nn::ModuleList input_blocks{nullptr};
  TimestepEmbedSequential middle_block{nullptr};
  torch::nn::ModuleList output_blocks{nullptr};
  torch::nn::Sequential out{nullptr};
  std::vector<TimestepEmbedSequential> inputs_, outputs_;  // typed views of the ModuleLists
};
TORCH_MODULE(UNetModel);

}  // namespace disco::diffusion
