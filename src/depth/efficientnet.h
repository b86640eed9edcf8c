// geffnet.gen_efficientnet.GenEfficientNet as gen-efficientnet-pytorch's tf_efficientnet_b5_ap builds
// it (geffnet/gen_efficientnet.py, efficientnet_builder.py, conv2d_layers.py): AdaBins' encoder.
// TF-compatible variant: "same" padding computed from the input size, BatchNorm eps 1e-3, swish
// (nn.SiLU), squeeze-excite reduced from the block's input width. The classifier head (global_pool,
// classifier) is nn.Identity in AdaBins and has no tensors, so it is not built.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "io/weights_file.h"

namespace disco::depth {

// One block of a stage: 'ds' (DepthwiseSeparableConv: conv_dw, se, conv_pw) or 'ir'
// (InvertedResidual: conv_pw, conv_dw, se, conv_pwl).
struct EfficientNetBlockConfig {
  bool inverted_residual = true;
  int64_t in_chs = 0, out_chs = 0;
  int64_t mid_chs = 0;     // depthwise width: in_chs * exp_ratio for 'ir', in_chs for 'ds'
  int64_t kernel = 3;      // depthwise kernel size
  int64_t stride = 1;      // the stage's stride on its first block, 1 after
  int64_t se_chs = 0;      // squeeze-excite reduced width; 0: no squeeze-excite (nn.Identity)
};

struct EfficientNetConfig {
  int64_t in_chans = 3;
  int64_t stem_size = 0;      // conv_stem's output width
  int64_t num_features = 0;   // conv_head's output width
  std::vector<std::vector<EfficientNetBlockConfig>> stages;  // blocks.<stage>.<block>

  // EfficientNet's seven stages' strides (arch_def 's' of _gen_efficientnet); the weights hold
  // everything else.
  static const std::vector<int64_t>& stage_strides();
  // Widths, kernels and blocks per stage from the tensors' shapes under `prefix` (e.g.
  // "encoder.original_model."). Throws ModelMismatchError naming the missing key and `source`.
  static EfficientNetConfig from_state_dict(const io::TensorMap& sd, const std::string& prefix,
                                            const std::string& source);
  // tf_efficientnet_b5_ap: _gen_efficientnet(channel_multiplier=1.6, depth_multiplier=2.2).
  static EfficientNetConfig tf_efficientnet_b5();
};

// Conv2d with TensorFlow's "same" padding (create_conv2d_pad with pad_type 'same'): a stride-1 odd
// kernel is an nn.Conv2d with symmetric padding k // 2; otherwise Conv2dSame pads the input by
// max((ceil(i / s) - 1) * s + k - i, 0), the odd pixel on the bottom/right, before a valid conv.
class Conv2dSameImpl : public torch::nn::Module {
 public:
  Conv2dSameImpl(int64_t in_chs, int64_t out_chs, int64_t kernel, int64_t stride, int64_t groups, bool bias);
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight, bias;  // bias undefined when the conv has none (geffnet's default)
  int64_t stride, groups;
};
TORCH_MODULE(Conv2dSame);

// x * sigmoid(conv_expand(act(conv_reduce(mean_hw(x))))).
class SqueezeExciteImpl : public torch::nn::Module {
 public:
  SqueezeExciteImpl(int64_t in_chs, int64_t reduced_chs);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv_reduce{nullptr}, conv_expand{nullptr};
};
TORCH_MODULE(SqueezeExcite);

class DepthwiseSeparableConvImpl : public torch::nn::Module {
 public:
  explicit DepthwiseSeparableConvImpl(const EfficientNetBlockConfig& c);
  torch::Tensor forward(const torch::Tensor& x);

  Conv2dSame conv_dw{nullptr}, conv_pw{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  SqueezeExcite se{nullptr};  // nullptr: nn.Identity
  bool has_residual;
};
TORCH_MODULE(DepthwiseSeparableConv);

class InvertedResidualImpl : public torch::nn::Module {
 public:
  explicit InvertedResidualImpl(const EfficientNetBlockConfig& c);
  torch::Tensor forward(const torch::Tensor& x);

  Conv2dSame conv_pw{nullptr}, conv_dw{nullptr}, conv_pwl{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  SqueezeExcite se{nullptr};  // nullptr: nn.Identity
  bool has_residual;
};
TORCH_MODULE(InvertedResidual);

class GenEfficientNetImpl : public torch::nn::Module {
 public:
  explicit GenEfficientNetImpl(const EfficientNetConfig& config);

  EfficientNetConfig config;
  Conv2dSame conv_stem{nullptr}, conv_head{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::ModuleList blocks{nullptr};  // one Sequential of blocks per stage
};
TORCH_MODULE(GenEfficientNet);

// AdaBins' models.unet_adaptive_bins.Encoder: every intermediate of original_model, in the order
// of its _modules with `blocks` entered stage by stage:
//   [x, conv_stem, bn1, act1, blocks.0, ..., blocks.<S-1>, conv_head, bn2, act2, global_pool, classifier]
// (the last two are AdaBins' nn.Identity, the same tensor as act2).
class EncoderImpl : public torch::nn::Module {
 public:
  explicit EncoderImpl(const EfficientNetConfig& config);
  std::vector<torch::Tensor> forward(const torch::Tensor& x);  // x [N, 3, H, W]

  GenEfficientNet original_model{nullptr};
};
TORCH_MODULE(Encoder);

}  // namespace disco::depth
