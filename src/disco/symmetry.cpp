#include "disco/symmetry.h"

#include <algorithm>

#include <torch/torch.h>

#include "common/error.h"

namespace disco {

at::Tensor symmetry_transformation(const at::Tensor& x_in, bool horizontal, bool vertical) {
  DISCO_CHECK(x_in.dim() >= 2, Error, "symmetry needs an image tensor [..., H, W], got ", x_in.sizes(), ".");
  at::Tensor x = x_in;
  if (horizontal) {
    auto left = x.slice(-1, 0, x.size(-1) / 2);  // [..., W//2]
    x = torch::cat({left, left.flip({-1})}, -1);
  }
  if (vertical) {
    auto top = x.slice(-2, 0, x.size(-2) / 2);  // [..., H//2, W]
    x = torch::cat({top, top.flip({-2})}, -2);
  }
  return x;
}

std::vector<int64_t> transformation_steps(int64_t L, const std::vector<double>& transformation_percent) {
  std::vector<int64_t> steps;
  for (double p : transformation_percent) {
    DISCO_CHECK(p >= 0.0 && p <= 1.0, SettingsError, "transformation_percent entries must lie in [0, 1], got ", p,
                ".");
    steps.push_back(static_cast<int64_t>(static_cast<double>(L) * (1.0 - p)));  // Python int(): truncation
  }
  return steps;
}

bool SymmetrySchedule::should_fire(int64_t i) const {
  return std::find(steps_.begin(), steps_.end(), i) != steps_.end();
}

}  // namespace disco
