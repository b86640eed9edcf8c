// The pieces of MiDaS v3's DPT (midas/vit.py, midas/blocks.py) and of the timm 0.6.13
// VisionTransformer it is built on (timm/models/vision_transformer.py), each a module named as in
// the checkpoint. midas.h puts them together.
// Shapes: N batch, T tokens (1 class token + gh*gw patches), C embedding width.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace disco::depth {

// timm Attention(dim, num_heads, qkv_bias=True): softmax(q k^T * head_dim^-0.5) v, then proj.
class ViTAttentionImpl : public torch::nn::Module {
 public:
  ViTAttentionImpl(int64_t dim, int64_t num_heads);
  torch::Tensor forward(const torch::Tensor& x);  // [N, T, C] -> [N, T, C]

  torch::nn::Linear qkv{nullptr}, proj{nullptr};

 private:
  int64_t num_heads_;
};
TORCH_MODULE(ViTAttention);

// timm Mlp: fc1, exact (erf) GELU, fc2.
class ViTMlpImpl : public torch::nn::Module {
 public:
  ViTMlpImpl(int64_t dim, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(ViTMlp);

// timm Block (pre-norm, LayerNorm eps 1e-6): x + attn(norm1(x)), then x + mlp(norm2(x)).
class ViTBlockImpl : public torch::nn::Module {
 public:
  ViTBlockImpl(int64_t dim, int64_t num_heads, int64_t mlp_hidden);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::LayerNorm norm1{nullptr};
  ViTAttention attn{nullptr};
  torch::nn::LayerNorm norm2{nullptr};
  ViTMlp mlp{nullptr};
};
TORCH_MODULE(ViTBlock);

// timm PatchEmbed: proj is Conv2d(3, C, patch, stride patch).
class PatchEmbedImpl : public torch::nn::Module {
 public:
  PatchEmbedImpl(int64_t patch_size, int64_t dim);
  torch::nn::Conv2d proj{nullptr};
};
TORCH_MODULE(PatchEmbed);

// timm VisionTransformer as MiDaS' forward_flex runs it (pretrained.model). norm and head are
// held for the checkpoint's sake: DPT reads the hooked blocks' outputs, never the classifier.
class VisionTransformerImpl : public torch::nn::Module {
 public:
  VisionTransformerImpl(int64_t patch_size, int64_t dim, int64_t grid, int64_t depth, int64_t num_heads,
                        int64_t mlp_hidden, int64_t num_classes);
  // x [N, 3, H, W] -> the outputs of the blocks `hooks` names, each [N, T, C] (MiDaS' forward hooks).
  std::vector<torch::Tensor> forward_flex(const torch::Tensor& x, const std::array<int64_t, 4>& hooks);

  torch::Tensor cls_token, pos_embed;
  PatchEmbed patch_embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  torch::nn::LayerNorm norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  torch::Tensor resize_pos_embed(int64_t gs_h, int64_t gs_w) const;
  int64_t patch_size_;
};
TORCH_MODULE(VisionTransformer);

// MiDaS ProjectReadout: each patch token concatenated with the class token, Linear(2C, C) + GELU.
class ProjectReadoutImpl : public torch::nn::Module {
 public:
  explicit ProjectReadoutImpl(int64_t dim);
  torch::Tensor forward(const torch::Tensor& x);  // [N, T, C] -> [N, T - 1, C]

  torch::nn::Sequential project{nullptr};
};
TORCH_MODULE(ProjectReadout);

// One of MiDaS' act_postprocess1..4 Sequentials: 0 readout, (1 Transpose, 2 Unflatten: no
// weights), 3 Conv2d 1x1 to `features`, 4 the resampling: ConvTranspose2d k=s=4 (stage 0),
// k=s=2 (stage 1), none (stage 2), Conv2d 3x3 stride 2 (stage 3).
class ReassembleImpl : public torch::nn::Module {
 public:
  ReassembleImpl(int stage, int64_t dim, int64_t features);
  // tokens [N, T, C] of a gh x gw patch grid -> [N, features, gh * 4 / 2^stage, ...]
  torch::Tensor forward(const torch::Tensor& tokens, int64_t gh, int64_t gw);

  ProjectReadout readout{nullptr};
  torch::nn::Conv2d conv{nullptr};
  torch::nn::AnyModule resample;
};
TORCH_MODULE(Reassemble);

// MiDaS' `pretrained`: the ViT and its four reassemble stages.
class DPTBackboneImpl : public torch::nn::Module {
 public:
  DPTBackboneImpl(int64_t patch_size, int64_t dim, int64_t grid, int64_t depth, int64_t num_heads,
                  int64_t mlp_hidden, int64_t num_classes, const std::array<int64_t, 4>& features,
                  const std::array<int64_t, 4>& hooks);
  // forward_vit: x [N, 3, H, W] -> layer_1..layer_4 at H/4, H/8, H/16, H/32.
  std::array<torch::Tensor, 4> forward(const torch::Tensor& x);

  VisionTransformer model{nullptr};
  std::array<Reassemble, 4> act_postprocess{Reassemble{nullptr}, Reassemble{nullptr}, Reassemble{nullptr},
                                            Reassemble{nullptr}};

 private:
  std::array<int64_t, 4> hooks_;
  int64_t patch_size_;
};
TORCH_MODULE(DPTBackbone);

// MiDaS ResidualConvUnit_custom (bn=False, ReLU not in place): x + conv2(relu(conv1(relu(x)))).
class ResidualConvUnitImpl : public torch::nn::Module {
 public:
  explicit ResidualConvUnitImpl(int64_t features);
  torch::Tensor forward(const torch::Tensor& x);

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(ResidualConvUnit);

// MiDaS FeatureFusionBlock_custom (deconv=False, bn=False, expand=False, align_corners=True).
// refinenet4 has one input and never runs resConfUnit1, whose weights are in the file anyway.
class FeatureFusionBlockImpl : public torch::nn::Module {
 public:
  explicit FeatureFusionBlockImpl(int64_t features);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& skip);

  torch::nn::Conv2d out_conv{nullptr};
  ResidualConvUnit resConfUnit1{nullptr}, resConfUnit2{nullptr};
};
TORCH_MODULE(FeatureFusionBlock);

// MiDaS' `scratch`: layer1_rn..layer4_rn (3x3, no bias) to the fusion width, refinenet1..4 and
// DPTDepthModel's head, output_conv = Sequential(0 Conv 3x3 F -> F/2, 1 Interpolate x2 bilinear
// align_corners=True, 2 Conv 3x3 F/2 -> 32, 3 ReLU, 4 Conv 1x1 32 -> 1, 5 ReLU (non_negative),
// 6 Identity).
class DPTScratchImpl : public torch::nn::Module {
 public:
  DPTScratchImpl(const std::array<int64_t, 4>& in_features, int64_t features);
  // layer_1..layer_4 from the backbone -> [N, 1, H, W]
  torch::Tensor forward(const std::array<torch::Tensor, 4>& layers);

  std::array<torch::nn::Conv2d, 4> layer_rn{torch::nn::Conv2d{nullptr}, torch::nn::Conv2d{nullptr},
                                            torch::nn::Conv2d{nullptr}, torch::nn::Conv2d{nullptr}};
  std::array<FeatureFusionBlock, 4> refinenet{FeatureFusionBlock{nullptr}, FeatureFusionBlock{nullptr},
                                              FeatureFusionBlock{nullptr}, FeatureFusionBlock{nullptr}};
  torch::nn::Sequential output_conv{nullptr};
};
TORCH_MODULE(DPTScratch);

}  // namespace disco::depth
