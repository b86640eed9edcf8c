// disco.py's resample(): the resampler of the old MakeCutouts (image prompts, dd-spec §6.2).
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace disco::guidance {

// ramp(ratio, width) of disco.py: 2n-3 float32 tap positions m*ratio, n = ceil(width/ratio + 1),
// accumulated in double and stored rounded to float32.
torch::Tensor lanczos_ramp(double ratio, int64_t width);

// Normalised Lanczos-a window sinc(x)*sinc(x/a) over the positions x (float32).
torch::Tensor lanczos_kernel(const torch::Tensor& x, int64_t a);

// resample(x, (out_h, out_w)): each downscaled axis is low-pass filtered with a Lanczos-2 kernel
// (reflect padding), then PyTorch bicubic (A = -0.75) with align_corners = true.
// x: [N, C, H, W] -> [N, C, out_h, out_w]. Differentiable in x.
torch::Tensor resample(const torch::Tensor& x, int64_t out_h, int64_t out_w);

}  // namespace disco::guidance
