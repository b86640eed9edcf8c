// resize_right.resize(x, out_shape) as MakeCutoutsDango calls it (dd-spec §5.4): Keys cubic
// (a = -0.5), antialiasing when downscaling, constant-zero padding.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

namespace disco::guidance {

// The [out, in] float32 CPU matrix ResizeRight applies along one axis of length `in_size`
// (row j holds the normalised tap weights of output j; taps outside the input are dropped,
// which is what zero padding amounts to).
torch::Tensor resize_right_matrix(int64_t in_size, int64_t out_size);
// The nonzero entries of resize_right_matrix(in_size, out_size), row by row: output `out[e]` takes
// `weight[e]` of input `in[e]`. A band of at most ceil(4 / scale) taps per output, so a few percent
// of the dense matrix. From a host cache: the batched inner cuts place these in their matrices on
// the device, which then holds no per-size copies (the crops' sizes vary over hundreds of values).
struct ResizeTaps {
  std::vector<int32_t> out, in;
  std::vector<float> weight;
};
std::shared_ptr<const ResizeTaps> resize_right_taps(int64_t in_size, int64_t out_size);

// Resizes the last two dims of x ([..., H, W]) to [out_h, out_w]. Axes are processed in
// ascending order of scale factor (H first on ties) and an axis whose size does not change is
// skipped, as in ResizeRight. Differentiable in x; the weights are cached per
// (in, out, device, dtype). Throws SettingsError on empty sizes.
torch::Tensor resize_right(const torch::Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace disco::guidance
