// clip.model.{Bottleneck, AttentionPool2d, ModifiedResNet} (RN50 … RN50x64), models-spec §3.5.
#pragma once
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "common/avg_pool.h"

namespace disco::clip {

// A convolution and the eval-mode BatchNorm after it, folded into one convolution (weight scaled
// per output channel, a bias added). Computed in float32 from the current parameters and stored
// in the convolution's dtype. Empty (undefined) when not folded.
struct FoldedConvBN {
  torch::Tensor weight, bias;
  int64_t stride = 1, padding = 0;
  static FoldedConvBN fold(const torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);
};

// bn(conv(x)): the folded convolution when `f` holds one, else the two modules.
torch::Tensor conv_bn(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn, const FoldedConvBN& f,
                      const torch::Tensor& x);

class BottleneckImpl : public torch::nn::Module {
 public:
  static constexpr int64_t kExpansion = 4;
  BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);
  void fold_batchnorm(bool on);
  void append_folded(std::vector<torch::Tensor>& out) const;  // the defined folded weights and biases

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  FoldedConvBN folded1, folded2, folded3, folded_down;  // not registered: derived, not checkpoint keys
  AvgPool avgpool{nullptr};  // only when stride > 1 (Python: nn.Identity otherwise)
  // Children "-1" (AvgPool, no tensors), "0" (1x1 conv), "1" (BatchNorm), as in the keys
  // downsample.0.weight / downsample.1.*; empty when the block keeps shape.
  torch::nn::Sequential downsample{nullptr};
};
TORCH_MODULE(Bottleneck);

class AttentionPool2dImpl : public torch::nn::Module {
 public:
  AttentionPool2dImpl(int64_t spacial_dim, int64_t embed_dim, int64_t heads, int64_t output_dim);
  // x [N,embed,H,W] -> [N,output_dim]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor positional_embedding;
  torch::nn::Linear k_proj{nullptr}, q_proj{nullptr}, v_proj{nullptr}, c_proj{nullptr};
  int64_t heads;
  bool fused = true;  // scaled_dot_product_heads' `fused`
};
TORCH_MODULE(AttentionPool2d);

class ModifiedResNetImpl : public torch::nn::Module {
 public:
  ModifiedResNetImpl(const std::vector<int64_t>& layers, int64_t output_dim, int64_t heads,
                     int64_t input_resolution, int64_t width);
  // image [N,3,R,R] -> [N,output_dim]
  torch::Tensor forward(const torch::Tensor& image);
  // Folds every BatchNorm into the convolution before it (`--precision fast`): in the mixed model
  // each BatchNorm otherwise casts its half-precision input to float32 and back, three passes over
  // the activations, and keeps float32 copies for the backward pass. The result differs from the
  // unfolded model by the rounding of the folded half-precision weights. Call it after the model
  // has its device and dtype (convert_weights undoes it); `on` false goes back to the modules.
  void fold_batchnorm(bool on);
  bool batchnorm_folded() const { return folded1.weight.defined(); }
  // The folded weights and biases (none when not folded): derived tensors outside the module's
  // parameters, which whoever moves the model's memory must move too.
  std::vector<torch::Tensor> folded_tensors() const;

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  FoldedConvBN folded1, folded2, folded3;
  AvgPool avgpool{nullptr};
  torch::nn::Sequential layer1{nullptr}, layer2{nullptr}, layer3{nullptr}, layer4{nullptr};
  AttentionPool2d attnpool{nullptr};

 private:
  torch::nn::Sequential make_layer(int64_t planes, int64_t blocks, int64_t stride);
  int64_t inplanes_ = 0;
};
TORCH_MODULE(ModifiedResNet);

// BatchNorm that accepts activations of a lower precision than its float32 parameters (the
// mixed-precision model keeps BatchNorm in float32): computes in float32 and casts back, as
// cuDNN does for half inputs.
torch::Tensor batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x);

}  // namespace disco::clip
