// DD's depth for the 3D warp (dd-spec §11.4, disco_xform_utils.transform_image_3d): MiDaS' inverse
// relative depth p becomes (50 - p) / 19, and where midas_weight < 1 it is mixed with AdaBins'
// metric depth. The networks themselves live in midas.h and adabins.h.
#pragma once
#include <ATen/Tensor.h>

namespace disco::depth {

// (50 - p) / 19, elementwise, as DD computes it (float32 numpy: subtract, then divide).
at::Tensor depth_from_midas(const at::Tensor& midas_prediction);

// midas_weight * midas_depth + (1 - midas_weight) * adabins_depth, in DD's order of operations.
at::Tensor mix_depths(const at::Tensor& midas_depth, const at::Tensor& adabins_depth, double midas_weight);

}  // namespace disco::depth
