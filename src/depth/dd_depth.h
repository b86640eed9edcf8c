// DD's depth for the 3D warp (dd-spec §11.4, disco_xform_utils.transform_image_3d): MiDaS'
// prediction as (50 - p) / 19, mixed with AdaBins' metric depth where midas_weight < 1.
#pragma once
#include <memory>
#include <string>

#include "depth/adabins.h"
#include "depth/depth_estimator.h"
#include "depth/midas.h"

namespace disco::depth {

class DDDepth : public DepthEstimator {
 public:
  // `adabins` may be empty (nullptr) when every run has midas_weight >= 1.
  DDDepth(DPTDepthModel midas, UnetAdaptiveBins adabins, c10::Device device);
  at::Tensor estimate(const io::Image8& image, double midas_weight) override;
  // Parked, the models wait in host memory and visit the device only for each estimate, so a
  // tight GPU budget holds the diffusion models alone while sampling (RunOptions::max_vram_gib).
  void set_parked(bool parked);

 private:
  DPTDepthModel midas_;
  UnetAdaptiveBins adabins_;
  c10::Device device_;
  bool parked_ = false;
  void place(c10::Device device);
  at::Tensor estimate_on_device(const io::Image8& image, double midas_weight);
};

// The models from their files (adabins_path empty: no AdaBins), on `device`, in eval mode.
std::shared_ptr<DDDepth> load_dd_depth(const std::string& midas_path, const std::string& adabins_path,
                                       c10::Device device);

}  // namespace disco::depth
