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
// A copy for the host: from CUDA, an asynchronous copy into pinned memory (the device tensor may be
// released at once: the caching allocator hands its memory only to work queued after the copy on
// the same stream); on the CPU, a plain copy, so that offloading code can be tested there.
torch::Tensor copy_to_host(const torch::Tensor& t);

// With `offload`, inputs of 1 MiB or more wait for the backward pass in pinned host memory instead
// of on the CUDA device (asynchronous copies both ways, bit-identical results; on the CPU they are
// kept as copies, which saves nothing).
torch::Tensor checkpoint(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b,
                         const torch::Tensor& c, bool offload = false);

// checkpoint() of fn(cat([a, b], 1), <empty>, c) that keeps a and b rather than their concatenation
// (an output block's h and skip, which the UNet holds anyway). Its backward pass lets go of them
// once concatenated: offloaded ones (1 MiB and up) then have their device copies freed at once. b's
// gradient is returned as a tensor of its own, not as a slice of the concatenation's gradient.
torch::Tensor checkpoint_concat(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b,
                                const torch::Tensor& c, bool offload = false);

}  // namespace disco::diffusion
