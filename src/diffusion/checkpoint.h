// Gradient checkpointing (guided-diffusion's use_checkpoint): run a part of a network without
// keeping its activations, and run it again, with gradients, in the backward pass.
#pragma once
#include <functional>

#include <torch/torch.h>

namespace disco::diffusion {

using CheckpointFn =
    std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>;

// fn(a, b, c), remembering only a, b and c for the backward pass when a gradient is being recorded
// (otherwise a plain call). All three must be defined (pass an empty tensor for an unused one).
// Gradients flow to the inputs that require one, not to parameters. `fn` is held by address: it
// must outlive the backward pass (make it a member of the module).
torch::Tensor checkpoint(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b,
                         const torch::Tensor& c);

}  // namespace disco::diffusion
