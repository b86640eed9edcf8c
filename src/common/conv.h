// Convolution for guidance gradients: gradients are taken with respect to images, never to
// weights, so the backward pass needs only the weight. aten's convolution keeps its input for the
// backward pass all the same (one formula serves input and weight gradients); this one does not,
// and takes the input gradient as the transposed convolution. That is an activation less per
// convolution in every recorded graph: the UNet's recomputed blocks, the secondary model, RN50.
#pragma once
#include <torch/torch.h>

namespace disco {

// conv2d(x, weight, bias) with square stride, padding and dilation. On CUDA, when a gradient is
// recorded for x but not for weight or bias, the graph keeps the weight only. Otherwise aten's
// conv2d: also on the CPU, whose transposed convolution takes a column buffer k² times the size of
// the activation it would spare (measured: the UNet's input gradient +2.17 instead of +1.50 GiB).
torch::Tensor conv2d_input_grad(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                int64_t stride, int64_t padding, int64_t dilation = 1, int64_t groups = 1);

// The same on any device (what conv2d_input_grad runs on CUDA; the tests run it on the CPU).
torch::Tensor conv2d_keeping_weight(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    int64_t stride, int64_t padding, int64_t dilation = 1, int64_t groups = 1);

}  // namespace disco
