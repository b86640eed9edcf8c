// LPIPS(net='vgg') v0.1 (dd-spec §9).
#include "guidance/lpips.h"

#include <array>

#include "common/error.h"

namespace disco::guidance {
namespace {

namespace nn = torch::nn;

// torchvision vgg16 "D" configuration, features 0..29: conv out-channels, 0 = MaxPool2d(2, 2).
constexpr std::array<int64_t, 18> kVggLayout = {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0};
// First torchvision index of slices 1..5 and one past the last (relu1_2=3, ..., relu5_3=29).
constexpr std::array<int64_t, 6> kSliceStart = {0, 4, 9, 16, 23, 30};
constexpr std::array<int64_t, 5> kTapChannels = {64, 128, 256, 512, 512};

}  // namespace

ScalingLayerImpl::ScalingLayerImpl() {
  // The lpips code constants, rounded to float32 like torch.Tensor([...]).
  shift = register_buffer("shift", torch::tensor({-.030f, -.088f, -.188f}).view({1, 3, 1, 1}));
  scale = register_buffer("scale", torch::tensor({.458f, .448f, .450f}).view({1, 3, 1, 1}));
}

torch::Tensor ScalingLayerImpl::forward(const torch::Tensor& x) { return (x - shift) / scale; }

int lpips_slice_of_feature(int64_t index) {
  for (int s = 0; s < 5; ++s)
    if (index >= kSliceStart[s] && index < kSliceStart[s + 1]) return s + 1;
  return 0;
}

Vgg16FeaturesImpl::Vgg16FeaturesImpl() {
  for (int s = 0; s < 5; ++s) slices.push_back(nn::Sequential());
  int64_t index = 0, in_ch = 3;
  auto add = [&](auto module) {
    slices[lpips_slice_of_feature(index) - 1]->push_back(std::to_string(index), module);
    ++index;
  };
  for (int64_t c : kVggLayout) {
    if (index >= kSliceStart[5]) break;
    if (c == 0) {
      add(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)));
      continue;
    }
    add(nn::Conv2d(nn::Conv2dOptions(in_ch, c, 3).stride(1).padding(1).bias(true)));
    add(nn::ReLU());
    in_ch = c;
  }
  for (int s = 0; s < 5; ++s) register_module("slice" + std::to_string(s + 1), slices[s]);
}

std::vector<torch::Tensor> Vgg16FeaturesImpl::forward(const torch::Tensor& x) {
  std::vector<torch::Tensor> taps;
  torch::Tensor h = x;  // [N,3,H,W]
  for (auto& slice : slices) {
    h = slice->forward(h);  // relu1_2 [N,64,H,W], relu2_2 [N,128,H/2,W/2], ..., relu5_3 [N,512,H/16,W/16]
    taps.push_back(h);
  }
  return taps;
}

NetLinLayerImpl::NetLinLayerImpl(int64_t channels) {
  model = register_module("model", nn::Sequential(nn::Dropout(), nn::Conv2d(nn::Conv2dOptions(channels, 1, 1).bias(false))));
}

torch::Tensor NetLinLayerImpl::forward(const torch::Tensor& x) { return model->forward(x); }

LPIPSImpl::LPIPSImpl() {
  scaling_layer = register_module("scaling_layer", ScalingLayer());
  net = register_module("net", Vgg16Features());
  for (int k = 0; k < 5; ++k) lins.push_back(register_module("lin" + std::to_string(k), NetLinLayer(kTapChannels[k])));
}

torch::Tensor LPIPSImpl::forward(const torch::Tensor& x, const torch::Tensor& y, std::vector<torch::Tensor>* per_layer) {
  DISCO_CHECK(x.dim() == 4 && x.size(1) == 3 && x.sizes() == y.sizes(), SettingsError, "LPIPS needs two [N,3,H,W] images of ",
              "the same shape, got ", x.sizes(), " and ", y.sizes(), ".");
  const auto fx = net->forward(scaling_layer->forward(x));
  const auto fy = net->forward(scaling_layer->forward(y));
  auto normalize = [](const torch::Tensor& f) {  // eps added after the sqrt, as lpips does
    return f / (torch::sqrt(torch::sum(f * f, 1, /*keepdim=*/true)) + 1e-10);
  };
  torch::Tensor val;
  if (per_layer) per_layer->clear();
  for (size_t k = 0; k < fx.size(); ++k) {
    const auto diff = (normalize(fx[k]) - normalize(fy[k])).pow(2);          // [N,C,h,w]
    const auto r = lins[k]->forward(diff).mean({2, 3}, /*keepdim=*/true);  // [N,1,1,1]
    if (per_layer) per_layer->push_back(r);
    val = val.defined() ? val + r : r;
  }
  return val;
}

void load_lpips_weights(LPIPSImpl& model, const io::TensorMap& vgg16, const io::TensorMap& lin,
                        const std::string& vgg_source, const std::string& lin_source) {
  torch::NoGradGuard no_grad;
  for (auto& p : model.named_parameters(/*recurse=*/true)) {
    const std::string& key = p.key();
    std::string src_key, source;
    const io::TensorMap* sd = nullptr;
    if (key.rfind("net.slice", 0) == 0) {
      // net.slice<S>.<index>.<weight|bias> <- features.<index>.<weight|bias>
      const auto first_dot = key.find('.', 9);
      src_key = "features." + key.substr(first_dot + 1);
      sd = &vgg16;
      source = vgg_source;
    } else {
      src_key = key;  // lin<K>.model.1.weight
      sd = &lin;
      source = lin_source;
    }
    const torch::Tensor* src = sd->find(src_key);
    DISCO_CHECK(src != nullptr, ModelMismatchError, "'", source, "' has no tensor '", src_key, "' (needed for LPIPS's ",
                key, "); is it ", (sd == &vgg16 ? "torchvision's vgg16-397923af.pth" : "lpips' weights/v0.1/vgg.pth"),
                "?");
    DISCO_CHECK(src->sizes() == p.value().sizes(), ModelMismatchError, "'", source, "': tensor '", src_key, "' has shape ",
                src->sizes(), " but LPIPS's ", key, " needs ", p.value().sizes(), ".");
    p.value().copy_(src->to(p.value().dtype()));
  }
  for (const auto& item : lin) {
    const auto& k = item.key();
    DISCO_CHECK(k.rfind("lin", 0) == 0 && k.find(".model.1.weight") != std::string::npos, ModelMismatchError, "'",
                lin_source, "' holds '", k, "', which is not an LPIPS linear-layer weight (expected lin0..lin4.model.1.weight).");
  }
}

LPIPS load_lpips(const std::string& vgg16_path, const std::string& lin_path, torch::Device device) {
  LPIPS model;
  load_lpips_weights(*model, io::load_weights_file(vgg16_path), io::load_weights_file(lin_path), vgg16_path, lin_path);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  model->to(device);
  return model;
}

}  // namespace disco::guidance
