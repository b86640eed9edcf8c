// The loss terms of DD's cond_fn (dd-spec §5.2 step 5, §5.5).
#pragma once
#include <torch/torch.h>

namespace disco::guidance {

// 2·arcsin(‖x̂ − ŷ‖/2)² over the last dim (x̂, ŷ L2-normalised with eps 1e-12); broadcasts
// like the reference, e.g. x [cuts, 1, D] and y [1, targets, D] -> [cuts, targets].
torch::Tensor spherical_dist_loss(const torch::Tensor& x, const torch::Tensor& y);

// L2 total variation per image: x [N, C, H, W] -> [N] (replicate padding right and bottom).
torch::Tensor tv_loss(const torch::Tensor& x);

// Mean over (C, H, W) of the squared excess outside [-1, 1]: [N, C, H, W] -> [N].
torch::Tensor range_loss(const torch::Tensor& x);

// Mean over all elements of |x - clamp(x, -1, 1)| (0-dim); DD computes it inline in cond_fn.
torch::Tensor sat_loss(const torch::Tensor& x);

}  // namespace disco::guidance
