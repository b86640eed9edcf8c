// The UNet blocks' speed layer (docs/performance.md, "Levers"): other forms of the reference
// arithmetic in unet_blocks.h, chosen by BlockExecution. Each states what it keeps equal:
// - in place without gradients (norms, SiLU, scale-shift, the residual add): bit-identical;
// - folded GroupNorm (fp16/bf16, and any CUDA tensor): float32 statistics over the tensor itself
//   and one a*x + b kernel, equal to the reference up to its own fp16 rounding;
// - a conv bias deferred into the next norm's statistics (folded norms only);
// - lean graphs (silu_of_affine; on CUDA conv2d_input_grad): fewer activations kept, gradients
//   equal up to the order of sums;
// - an output block's first ResBlock normalising its concatenation in place (no gradients).
#pragma once
#include <utility>

#include <torch/torch.h>

#include "diffusion/unet_blocks.h"

namespace disco::diffusion::fast {

// Whether x is normalised by the folded form (fp16/bf16, or on CUDA) rather than aten's
// group_norm (float32 on the CPU: the parity path). Only there does a deferred bias save work.
bool folds(const torch::Tensor& x);

// use_scale_shift_norm's norm(x) * (1 + scale) + shift, scale and shift [N, C, 1, 1] (both
// undefined: the plain norm).
torch::Tensor group_norm(const GroupNorm32Impl& norm, const torch::Tensor& x, const torch::Tensor& scale = {},
                         const torch::Tensor& shift = {});
// The same for an x nobody else reads afterwards: without gradients an fp16/bf16 (or CUDA) x is
// normalised in place. `pre_bias` [C]: a per-channel bias x still lacks (its conv ran without it);
// the norm is of x + pre_bias.
torch::Tensor group_norm_consuming(const GroupNorm32Impl& norm, torch::Tensor x, const torch::Tensor& scale,
                                   const torch::Tensor& shift, const torch::Tensor& pre_bias = {});
// silu(norm of x + pre_bias, scale-shifted). `consume`: x is the caller's to overwrite (without
// gradients it is normalised in place). With gradients, folded and lean, the recorded graph keeps
// x and the per-channel affine, not the normalised tensor.
torch::Tensor silu_norm(const GroupNorm32Impl& norm, torch::Tensor x, const torch::Tensor& scale,
                        const torch::Tensor& shift, const torch::Tensor& pre_bias, bool consume);

// silu(a * x + b) for a and b that broadcast over x (a GroupNorm's per-channel affine) whose
// recorded graph keeps x, a and b rather than the normalised activation; the backward pass
// recomputes it. Gradients are autograd's through addcmul and silu, up to the order of a's sums.
torch::Tensor silu_of_affine(const torch::Tensor& x, const torch::Tensor& a, const torch::Tensor& b);

// ResBlockImpl::forward's arithmetic, in the forms above.
torch::Tensor res_block(ResBlockImpl& block, const torch::Tensor& x, const torch::Tensor& emb);
// The same for an x nobody else holds (an output block's concatenation), without gradients: the
// skip projection is taken first and x is then normalised in place.
torch::Tensor res_block_consuming(ResBlockImpl& block, torch::Tensor x, const torch::Tensor& emb);

}  // namespace disco::diffusion::fast
