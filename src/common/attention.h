// Fused attention (PyTorch's scaled_dot_product_attention: flash / memory-efficient kernels) where
// the libtorch has it. It never materialises the [L, L] weights, which at 1280x768 are the UNet's
// largest tensors, and it keeps fp16 logits in fp32 internally.
#pragma once
#include <torch/torch.h>

namespace disco {

// True when this build's libtorch has scaled_dot_product_attention. A model that may take either
// path holds its own switch (UNetModelImpl::set_fused_attention), so runs side by side can differ.
bool fused_attention_available();

// softmax(q k^T / sqrt(d) + mask) v for q [..., Lq, d], k and v [..., Lk, d]; mask (optional)
// additive, broadcastable to [..., Lq, Lk]. Only call when fused_attention_available().
torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& mask = {});

}  // namespace disco
