// AvgPool2d(k) with kernel = stride = k (RN50's and the secondary model's downsampling, the UNet's
// resblock_updown): aten's avg_pool2d forward, and a backward pass that spreads each gradient over
// its k x k block by broadcasting. Values and gradients equal aten's bit for bit (the gradient is
// g / k², as aten computes it); aten's CUDA backward kernel took 2-4 ms of a DD step.
#pragma once
#include <torch/torch.h>

namespace disco {

// x [N, C, H, W] -> [N, C, H/k, W/k] (floored; rows and columns left over get no gradient).
torch::Tensor avg_pool(const torch::Tensor& x, int64_t k);

class AvgPoolImpl : public torch::nn::Module {
 public:
  explicit AvgPoolImpl(int64_t k) : k_(k) {}
  torch::Tensor forward(const torch::Tensor& x) { return avg_pool(x, k_); }

 private:
  int64_t k_;
};
TORCH_MODULE(AvgPool);

}  // namespace disco
