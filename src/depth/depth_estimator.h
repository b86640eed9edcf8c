// What the 3D frame loop asks of the depth networks: one depth map per image, as DD's
// transform_image_3d computes it before the warp (dd-spec §11.4). DDDepth (dd_depth.h) is DD's
// MiDaS/AdaBins mix; tests may stand in a synthetic depth.
#pragma once
#include <ATen/Tensor.h>

#include "io/image.h"

namespace disco::depth {

class DepthEstimator {
 public:
  virtual ~DepthEstimator() = default;
  // [H, W] float32 depth of `image`, on the device the warp runs on. midas_weight: DD's mix of
  // MiDaS (weight) and AdaBins (1 - weight; AdaBins runs only where the weight is < 1).
  virtual at::Tensor estimate(const io::Image8& image, double midas_weight) = 0;
};

}  // namespace disco::depth
