// clip.model.VisionTransformer, models-spec §3.4.
#include "clip/vision_transformer.h"

namespace disco::clip {

VisionTransformerImpl::VisionTransformerImpl(int64_t input_resolution, int64_t patch_size,
                                             int64_t width, int64_t layers, int64_t heads,
                                             int64_t output_dim, MlpActivation act) {
  const int64_t grid = input_resolution / patch_size;
  const double scale = 1.0 / std::sqrt(static_cast<double>(width));
  conv1 = register_module(
      "conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, width, patch_size).stride(patch_size).bias(false)));
  class_embedding = register_parameter("class_embedding", scale * torch::randn({width}));
  positional_embedding =
      register_parameter("positional_embedding", scale * torch::randn({grid * grid + 1, width}));
  ln_pre = register_module("ln_pre", LayerNorm(width));
  transformer = register_module("transformer", Transformer(width, layers, heads, act));
  ln_post = register_module("ln_post", LayerNorm(width));
  proj = register_parameter("proj", scale * torch::randn({width, output_dim}));
}

torch::Tensor VisionTransformerImpl::forward(const torch::Tensor& image) {
  auto x = conv1(image);                               // [N,width,g,g]
  x = x.flatten(2).permute({0, 2, 1});                 // [N,g*g,width], row-major patches
  auto cls = class_embedding.to(x.scalar_type()) +
             torch::zeros({x.size(0), 1, x.size(-1)}, x.options());  // [N,1,width]
  x = torch::cat({cls, x}, 1);                         // [N,g*g+1,width]
  x = x + positional_embedding.to(x.scalar_type());
  x = ln_pre(x);
  x = transformer(x.permute({1, 0, 2}));               // [L,N,width]
  x = x.permute({1, 0, 2});                            // [N,L,width]
  x = ln_post(x.select(1, 0));                         // [N,width]: the class token
  return x.matmul(proj);                               // [N,output_dim]
}

}  // namespace disco::clip
