// disco.py resample/lanczos/ramp/sinc (manifest image_prompt.procedure), with the reference's
// float32 tensor ops in the reference's order.
#include "guidance/resample.h"

#include <cmath>

#include "common/error.h"

namespace disco::guidance {
namespace F = torch::nn::functional;

torch::Tensor lanczos_ramp(double ratio, int64_t width) {
  DISCO_CHECK(ratio > 0, SettingsError, "resample: the scale ratio must be positive, got ", ratio, ".");
  const auto n = static_cast<int64_t>(std::ceil(static_cast<double>(width) / ratio + 1));
  auto out = torch::empty({n}, torch::kFloat);
  auto acc = out.accessor<float, 1>();
  double cur = 0;  // a Python float in the reference
  for (int64_t i = 0; i < n; ++i) {
    acc[i] = static_cast<float>(cur);
    cur += ratio;
  }
  auto both = torch::cat({-out.slice(0, 1).flip({0}), out});
  return both.slice(0, 1, both.size(0) - 1);
}

namespace {
// disco.py's own sinc, kept as its float32 expression rather than torch::sinc.
torch::Tensor dd_sinc(const torch::Tensor& x) {
  return torch::where(x != 0, torch::sin(M_PI * x) / (M_PI * x), torch::ones({}, x.options()));
}
}  // namespace

torch::Tensor lanczos_kernel(const torch::Tensor& x, int64_t a) {
  auto cond = torch::logical_and(x > -a, x < a);
  auto out = torch::where(cond, dd_sinc(x) * dd_sinc(x / a), torch::zeros({}, x.options()));
  return out / out.sum();
}

torch::Tensor resample(const torch::Tensor& x, int64_t out_h, int64_t out_w) {
  DISCO_CHECK(x.dim() == 4, SettingsError, "resample: expected an image batch [N, C, H, W], got ", x.dim(),
              " dimension(s).");
  DISCO_CHECK(out_h > 0 && out_w > 0, SettingsError, "resample: the output size ", out_h, "x", out_w,
              " must be positive.");
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  auto input = x.reshape({n * c, 1, h, w});

  if (out_h < h) {
    auto kernel = lanczos_kernel(lanczos_ramp(static_cast<double>(out_h) / h, 2), 2).to(input.options());
    const int64_t pad = (kernel.size(0) - 1) / 2;
    DISCO_CHECK(pad < h, SettingsError, "resample: cannot shrink ", h, " rows to ", out_h,
                " (the Lanczos filter would need more reflect padding than the image has rows).");
    input = F::pad(input, F::PadFuncOptions({0, 0, pad, pad}).mode(torch::kReflect));
    input = torch::conv2d(input, kernel.view({1, 1, -1, 1}));
  }
  if (out_w < w) {
    auto kernel = lanczos_kernel(lanczos_ramp(static_cast<double>(out_w) / w, 2), 2).to(input.options());
    const int64_t pad = (kernel.size(0) - 1) / 2;
    DISCO_CHECK(pad < w, SettingsError, "resample: cannot shrink ", w, " columns to ", out_w,
                " (the Lanczos filter would need more reflect padding than the image has columns).");
    input = F::pad(input, F::PadFuncOptions({pad, pad, 0, 0}).mode(torch::kReflect));
    input = torch::conv2d(input, kernel.view({1, 1, 1, -1}));
  }
  input = input.reshape({n, c, h, w});
  return F::interpolate(input, F::InterpolateFuncOptions()
                                   .size(std::vector<int64_t>{out_h, out_w})
                                   .mode(torch::kBicubic)
                                   .align_corners(true));
}

}  // namespace disco::guidance
