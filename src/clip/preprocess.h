// CLIP's input normalisation (models-spec §3.2), applied by DD to its cutouts in [0,1].
#pragma once
#include <array>

#include <torch/torch.h>

namespace disco::clip {

inline constexpr std::array<double, 3> kClipMean = {0.48145466, 0.4578275, 0.40821073};
inline constexpr std::array<double, 3> kClipStd = {0.26862954, 0.26130258, 0.27577711};

// torchvision Normalize(mean, std) on x [N,3,H,W] (or [3,H,W]) in [0,1]: (x - mean) / std per
// RGB channel, in x's dtype and device; differentiable.
torch::Tensor normalize(const torch::Tensor& x);

}  // namespace disco::clip
