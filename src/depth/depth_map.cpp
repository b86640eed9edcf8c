#include "depth/depth_map.h"

#include <torch/torch.h>

namespace disco::depth {

at::Tensor depth_from_midas(const at::Tensor& midas_prediction) {
  // numpy: np.subtract(50.0, p) then p / 19.0, both in float32 (the Python floats are weak scalars).
  return torch::sub(torch::scalar_tensor(50.0, midas_prediction.options()), midas_prediction).div(19.0);
}

at::Tensor mix_depths(const at::Tensor& midas_depth, const at::Tensor& adabins_depth, double midas_weight) {
  // DD: prediction_np * midas_weight + adabins_depth_np * adabins_weight, adabins_weight = 1.0 - midas_weight.
  const double adabins_weight = 1.0 - midas_weight;
  return midas_depth.mul(midas_weight).add(adabins_depth.to(midas_depth.scalar_type()).mul(adabins_weight));
}

}  // namespace disco::depth
