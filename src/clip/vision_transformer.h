// clip.model.VisionTransformer (ViT-B/32, ViT-B/16, ViT-L/14), models-spec §3.4; open_clip's
// VisionTransformer is the same network with the MLP activation as a choice (act_layer).
#pragma once
#include <cstdint>

#include <torch/torch.h>

#include "clip/transformer.h"

namespace disco::clip {

class VisionTransformerImpl : public torch::nn::Module {
 public:
  VisionTransformerImpl(int64_t input_resolution, int64_t patch_size, int64_t width, int64_t layers,
                        int64_t heads, int64_t output_dim, MlpActivation act = MlpActivation::QuickGELU);
  // image [N,3,R,R] in the model dtype -> [N,output_dim]
  torch::Tensor forward(const torch::Tensor& image);

  // Registration order gives Python's state_dict order: own tensors first, then children.
  torch::Tensor class_embedding, positional_embedding, proj;
  torch::nn::Conv2d conv1{nullptr};
  LayerNorm ln_pre{nullptr};
  Transformer transformer{nullptr};
  LayerNorm ln_post{nullptr};
};
TORCH_MODULE(VisionTransformer);

}  // namespace disco::clip
