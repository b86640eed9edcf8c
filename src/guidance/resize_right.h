// resize_right.resize(x, out_shape) as MakeCutoutsDango calls it (dd-spec §5.4): Keys cubic
// (a = -0.5), antialiasing when downscaling, constant-zero padding.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace disco::guidance {

// The [out, in] float32 CPU matrix ResizeRight applies along one axis of length `in_size`
// (row j holds the normalised tap weights of output j; taps outside the input are dropped,
// which is what zero padding amounts to).
torch::Tensor resize_right_matrix(int64_t in_size, int64_t out_size);
// The nonzero entries of resize_right_matrix(in_size, out_size), row by row: output `out[e]` takes
// `weight[e]` of input `in[e]`. A band of at most ceil(4 / scale) taps per output, so a few percent
// of the dense matrix. The batched inner cuts place these in their matrices on the device, which
// then holds no per-size copies (the crops' sizes vary over hundreds of values).
struct ResizeTaps {
  std::vector<int32_t> out, in;
  std::vector<float> weight;
};
std::shared_ptr<const ResizeTaps> resize_right_taps(int64_t in_size, int64_t out_size);

// resize_right's weights, kept for the life of this object: the dense matrices on a tensor's
// device and dtype, and the taps (host). The overview resizes one size per CLIP model all run long
// and the inner cuts meet a few hundred crop sizes, so a run's guidance keeps them (CondFn owns
// one) rather than computing and uploading them at every step. Only the first 64 matrices are kept
// (until clear): the box-by-box inner cuts meet hundreds of sizes, ~0.2 GiB of dense matrices on
// the device. Every entry is a pure function of its key. Thread-safe.
class ResizeWeights {
 public:
  // resize_right_matrix(in_size, out_size) on like's device, in like's dtype.
  torch::Tensor matrix(int64_t in_size, int64_t out_size, const torch::Tensor& like);
  std::shared_ptr<const ResizeTaps> taps(int64_t in_size, int64_t out_size);

 private:
  using MatrixKey = std::tuple<int64_t, int64_t, std::string, int>;  // in, out, device, dtype
  std::mutex mutex_;
  std::map<MatrixKey, torch::Tensor> matrices_;
  std::map<std::pair<int64_t, int64_t>, std::shared_ptr<const ResizeTaps>> taps_;
};

// Resizes the last two dims of x ([..., H, W]) to [out_h, out_w]. Axes are processed in
// ascending order of scale factor (H first on ties) and an axis whose size does not change is
// skipped, as in ResizeRight. Differentiable in x. The weights come from `weights` where given,
// else are computed for this call. Throws SettingsError on empty sizes.
torch::Tensor resize_right(const torch::Tensor& x, int64_t out_h, int64_t out_w, ResizeWeights* weights = nullptr);

}  // namespace disco::guidance
