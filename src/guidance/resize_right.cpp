// ResizeRight (Assaf Shocher's resize_right.resize), dd-spec §5.4. The per-axis weights are
// computed with the same float32 tensor ops, in the same order, as the reference; they are then
// laid out as a dense [out, in] matrix so the resize is one batched matmul per axis.
#include "guidance/resize_right.h"

#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "common/device.h"
#include "common/error.h"

namespace disco::guidance {
namespace {

// Keys cubic convolution kernel, a = -0.5 (support 4).
torch::Tensor cubic(const torch::Tensor& x) {
  auto absx = torch::abs(x);
  auto absx2 = torch::pow(absx, 2);
  auto absx3 = torch::pow(absx, 3);
  auto near = (absx <= 1.).to(x.dtype());
  auto far = ((absx > 1.) & (absx <= 2.)).to(x.dtype());
  return (1.5 * absx3 - 2.5 * absx2 + 1.) * near + (-0.5 * absx3 + 2.5 * absx2 - 4. * absx + 2.) * far;
}

constexpr double kSupport = 4.0;
// torch.finfo(torch.float32).eps, used by the reference as a Python float.
constexpr double kEps = std::numeric_limits<float>::epsilon();

}  // namespace

torch::Tensor resize_right_matrix(int64_t in_size, int64_t out_size) {
  DISCO_CHECK(in_size > 0 && out_size > 0, SettingsError, "resize_right: cannot resize an axis of length ",
              in_size, " to ", out_size, "; both sizes must be positive.");
  const double s = static_cast<double>(out_size) / static_cast<double>(in_size);
  // p_j = j/s + (in-1)/2 - (out-1)/(2s), float32 (the Python floats are rounded per op).
  auto grid = torch::arange(out_size, torch::kLong) / s + (in_size - 1) / 2.0 - (out_size - 1) / (2 * s);
  const bool antialias = s < 1.0;
  const double support = antialias ? kSupport / s : kSupport;

  // Field of view: ceil(S) consecutive taps from the leftmost one inside the window.
  auto left = torch::ceil(grid - support / 2 - kEps).to(torch::kLong);
  const auto n_taps = static_cast<int64_t>(std::ceil(support - kEps));
  auto fov = left.unsqueeze(1) + torch::arange(n_taps, torch::kLong);  // [out, taps]

  // The reference shifts grid and taps by the left pad before taking differences; the shift
  // changes float32 rounding, so it is reproduced.
  const int64_t pad_left = -fov[0][0].item<int64_t>();
  auto shifted_fov = fov + pad_left;
  auto shifted_grid = grid + pad_left;
  auto dist = shifted_grid.unsqueeze(1) - shifted_fov;  // [out, taps] float32
  // Antialiasing stretches the kernel: k(x) = s * cubic(s * x).
  auto weights = antialias ? s * cubic(s * dist) : cubic(dist);
  auto sum = weights.sum(1, /*keepdim=*/true);
  sum = torch::where(sum == 0, torch::ones_like(sum), sum);
  weights = weights / sum;

  // QUIRK(dd-spec §5.4): taps outside [0, in-1] read zeros (constant padding) but keep their share
  // of the normalisation, which darkens the borders. Dropping them from the matrix is exactly that.
  auto inside = (fov >= 0) & (fov < in_size);
  auto matrix = torch::zeros({out_size, in_size}, torch::kFloat);
  matrix.scatter_add_(1, fov.clamp(0, in_size - 1), weights * inside.to(torch::kFloat));
  return matrix;
}

std::shared_ptr<const ResizeTaps> resize_right_taps(int64_t in_size, int64_t out_size) {
  const auto m = resize_right_matrix(in_size, out_size).contiguous();
  const float* w = m.data_ptr<float>();
  auto taps = std::make_shared<ResizeTaps>();
  for (int64_t j = 0; j < out_size; ++j)
    for (int64_t k = 0; k < in_size; ++k)
      if (const float v = w[j * in_size + k]; v != 0.f) {
        taps->out.push_back(static_cast<int32_t>(j));
        taps->in.push_back(static_cast<int32_t>(k));
        taps->weight.push_back(v);
      }
  return taps;
}

torch::Tensor ResizeWeights::matrix(int64_t in_size, int64_t out_size, const torch::Tensor& like) {
  constexpr size_t kMaxEntries = 64;
  const MatrixKey key{in_size, out_size, like.device().str(), static_cast<int>(like.scalar_type())};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = matrices_.find(key);
    if (it != matrices_.end()) return it->second;
  }
  auto m = upload(resize_right_matrix(in_size, out_size), like.options());
  std::lock_guard<std::mutex> lock(mutex_);
  if (matrices_.size() < kMaxEntries) matrices_.emplace(key, m);
  return m;
}

std::shared_ptr<const ResizeTaps> ResizeWeights::taps(int64_t in_size, int64_t out_size) {
  const std::pair<int64_t, int64_t> key{in_size, out_size};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = taps_.find(key);
    if (it != taps_.end()) return it->second;
  }
  auto taps = resize_right_taps(in_size, out_size);
  std::lock_guard<std::mutex> lock(mutex_);
  return taps_.emplace(key, std::move(taps)).first->second;
}

torch::Tensor resize_right(const torch::Tensor& x, int64_t out_h, int64_t out_w, ResizeWeights* weights) {
  DISCO_CHECK(x.dim() >= 2, SettingsError, "resize_right: expected an image tensor [..., H, W], got ", x.dim(),
              " dimension(s).");
  DISCO_CHECK(out_h > 0 && out_w > 0, SettingsError, "resize_right: the output size ", out_h, "x", out_w,
              " must be positive.");
  const int64_t in_h = x.size(-2), in_w = x.size(-1);
  DISCO_CHECK(in_h > 0 && in_w > 0, SettingsError, "resize_right: cannot resize an empty image (", in_h, "x",
              in_w, ").");
  const double s_h = static_cast<double>(out_h) / in_h;
  const double s_w = static_cast<double>(out_w) / in_w;

  const auto matrix = [&](int64_t in, int64_t out, const torch::Tensor& like) {
    return weights ? weights->matrix(in, out, like) : upload(resize_right_matrix(in, out), like.options());
  };
  // x [..., H, W] -> [..., out_h, W]
  auto resize_h = [&](const torch::Tensor& t) { return torch::matmul(matrix(in_h, out_h, t), t); };
  // x [..., H, W] -> [..., H, out_w]
  auto resize_w = [&](const torch::Tensor& t) { return torch::matmul(t, matrix(in_w, out_w, t).t()); };

  torch::Tensor out = x;
  // Ascending scale factor, H first on ties (Python's stable sort); unchanged axes are skipped.
  if (s_h <= s_w) {
    if (s_h != 1.0) out = resize_h(out);
    if (s_w != 1.0) out = resize_w(out);
  } else {
    if (s_w != 1.0) out = resize_w(out);
    if (s_h != 1.0) out = resize_h(out);
  }
  return out;
}

}  // namespace disco::guidance
