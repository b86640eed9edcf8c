#include "depth/dd_depth.h"

#include <torch/torch.h>

#include "common/error.h"
#include "depth/depth_map.h"

namespace disco::depth {

DDDepth::DDDepth(DPTDepthModel midas, UnetAdaptiveBins adabins, c10::Device device)
    : midas_(std::move(midas)), adabins_(std::move(adabins)), device_(device) {}

void DDDepth::place(c10::Device device) {
  midas_->to(device);
  if (!adabins_.is_empty()) adabins_->to(device);
}

void DDDepth::set_parked(bool parked) {
  parked_ = parked;
  place(parked ? c10::Device(c10::kCPU) : device_);
}

at::Tensor DDDepth::estimate(const io::Image8& image, double midas_weight) {
  torch::NoGradGuard no_grad;
  if (parked_) {
    place(device_);
    at::Tensor depth = estimate_on_device(image, midas_weight);
    place(c10::kCPU);
    return depth;
  }
  return estimate_on_device(image, midas_weight);
}

at::Tensor DDDepth::estimate_on_device(const io::Image8& image, double midas_weight) {
  // DD runs AdaBins first, then MiDaS; neither draws random numbers, so the order is free.
  const at::Tensor midas = depth_from_midas(midas_prediction(midas_, image, device_)).to(device_);
  if (!(midas_weight < 1.0)) return midas;
  DISCO_CHECK(!adabins_.is_empty(), RuntimeError, "midas_weight ", midas_weight,
              " mixes in AdaBins, but no AdaBins model is loaded.");
  return mix_depths(midas, adabins_depth(adabins_, image, device_).to(device_), midas_weight);
}

std::shared_ptr<DDDepth> load_dd_depth(const std::string& midas_path, const std::string& adabins_path,
                                       c10::Device device) {
  DPTDepthModel midas = load_midas(midas_path);
  move_midas_to(midas, device);
  UnetAdaptiveBins adabins{nullptr};
  if (!adabins_path.empty()) {
    adabins = load_adabins(adabins_path);
    adabins->to(device);
    adabins->eval();
  }
  return std::make_shared<DDDepth>(std::move(midas), std::move(adabins), device);
}

}  // namespace disco::depth
