// lpips.LPIPS(net='vgg'), version 0.1, as DD uses it for the init loss (dd-spec §9):
// ScalingLayer -> VGG16 feature taps -> channel-normalised squared differences -> 1x1 lin
// layers -> spatial mean -> sum over the 5 layers. Keys as in LPIPS's state_dict
// (net.slice<S>.<torchvision index>, lin<K>.model.1.weight).
#pragma once
#include <string>
#include <vector>
#include <torch/torch.h>
#include "io/weights_file.h"

namespace disco::guidance {

// (x - shift) / scale per channel; buffers "shift", "scale" [1,3,1,1].
class ScalingLayerImpl : public torch::nn::Module {
 public:
  ScalingLayerImpl();
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor shift, scale;
};
TORCH_MODULE(ScalingLayer);

// torchvision vgg16().features[0..29] cut into five slices ending at relu1_2, relu2_2, relu3_3,
// relu4_3, relu5_3. Each slice is a Sequential whose children keep their torchvision index as
// name (slice2 holds "4" (pool) .. "8"), so the keys read net.slice2.5.weight.
class Vgg16FeaturesImpl : public torch::nn::Module {
 public:
  Vgg16FeaturesImpl();
  // x [N,3,H,W] -> the 5 taps, channels 64, 128, 256, 512, 512.
  std::vector<torch::Tensor> forward(const torch::Tensor& x);
  std::vector<torch::nn::Sequential> slices;
};
TORCH_MODULE(Vgg16Features);

// NetLinLayer: Sequential(Dropout (inactive in eval), Conv2d(C, 1, 1, bias=false)) as "model".
class NetLinLayerImpl : public torch::nn::Module {
 public:
  explicit NetLinLayerImpl(int64_t channels);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Sequential model{nullptr};
};
TORCH_MODULE(NetLinLayer);

class LPIPSImpl : public torch::nn::Module {
 public:
  LPIPSImpl();
  // x, y [N,3,H,W] in [-1,1] -> [N,1,1,1]. per_layer (optional) receives r_0..r_4, each [N,1,1,1].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y,
                        std::vector<torch::Tensor>* per_layer = nullptr);
  ScalingLayer scaling_layer{nullptr};
  Vgg16Features net{nullptr};
  std::vector<NetLinLayer> lins;  // registered as lin0..lin4 (LPIPS's "lins" alias is not registered)
};
TORCH_MODULE(LPIPS);

// Which slice holds torchvision features index `index` (1..5), 0 for an index LPIPS does not use.
int lpips_slice_of_feature(int64_t index);

// Builds LPIPS(net='vgg') from the two real files: torchvision's vgg16-397923af.pth (features.N.*
// mapped to net.slice<S>.N.*; classifier.* ignored) and lpips' weights/v0.1/vgg.pth
// (lin0..lin4.model.1.weight). eval mode, requires_grad off, float32 on `device`. Throws
// ModelMismatchError naming the file and key when a tensor is missing or misshaped.
LPIPS load_lpips(const std::string& vgg16_path, const std::string& lin_path, torch::Device device = torch::kCPU);
// The same from already read tensor maps (`vgg_source`/`lin_source` name them in messages).
void load_lpips_weights(LPIPSImpl& model, const io::TensorMap& vgg16, const io::TensorMap& lin,
                        const std::string& vgg_source, const std::string& lin_source);

}  // namespace disco::guidance
