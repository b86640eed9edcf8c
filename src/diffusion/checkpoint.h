// Gradient checkpointing (guided-diffusion's use_checkpoint): run a part of a network without
// keeping its activations, and run it again, with gradients, in the backward pass.
#pragma once
#include <functional>

#include <torch/torch.h>

namespace disco::diffusion {

using CheckpointFn = std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&)>;

// fn(a, b), remembering only a and b for the backward pass when a gradient is being recorded
// (otherwise a plain call). Gradients flow to a and b (where they require one), not to parameters.
// `fn` is held by address: it must outlive the backward pass (make it a member of the module).
torch::Tensor checkpoint(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b);

}  // namespace disco::diffusion
