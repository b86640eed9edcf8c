// resize_right.resize(x, out_shape) as MakeCutoutsDango calls it (dd-spec §5.4): Keys cubic
// (a = -0.5), antialiasing when downscaling, constant-zero padding.
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace disco::guidance {

// The [out, in] float32 CPU matrix ResizeRight applies along one axis of length `in_size`
// (row j holds the normalised tap weights of output j; taps outside the input are dropped,
// which is what zero padding amounts to).
torch::Tensor resize_right_matrix(int64_t in_size, int64_t out_size);
// The same matrix on `like`'s device and dtype, from a small cache (a host-to-device copy the
// first time a pair of sizes is seen).
torch::Tensor resize_right_matrix_like(int64_t in_size, int64_t out_size, const torch::Tensor& like);

// Resizes the last two dims of x ([..., H, W]) to [out_h, out_w]. Axes are processed in
// ascending order of scale factor (H first on ties) and an axis whose size does not change is
// skipped, as in ResizeRight. Differentiable in x; the weights are cached per
// (in, out, device, dtype). Throws SettingsError on empty sizes.
torch::Tensor resize_right(const torch::Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace disco::guidance
