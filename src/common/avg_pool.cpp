#include "common/avg_pool.h"

#include "common/error.h"

namespace disco {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct BlockMean : public torch::autograd::Function<BlockMean> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, int64_t k) {
    ctx->saved_data["k"] = k;
    ctx->saved_data["height"] = x.size(-2);
    ctx->saved_data["width"] = x.size(-1);
    return torch::avg_pool2d(x, {k, k}, {k, k});
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const int64_t k = ctx->saved_data["k"].toInt();
    const int64_t h = ctx->saved_data["height"].toInt(), w = ctx->saved_data["width"].toInt();
    const auto& g = grad_out[0];  // [N, C, h/k, w/k]
    const int64_t n = g.size(0), c = g.size(1), oh = g.size(2), ow = g.size(3);
    auto grad = (g / static_cast<double>(k * k))
                    .reshape({n, c, oh, 1, ow, 1})
                    .expand({n, c, oh, k, ow, k})
                    .reshape({n, c, oh * k, ow * k});
    if (oh * k != h || ow * k != w) grad = torch::constant_pad_nd(grad, {0, w - ow * k, 0, h - oh * k});
    return {grad, torch::Tensor()};
  }
};
}  // namespace

torch::Tensor avg_pool(const torch::Tensor& x, int64_t k) {
  DISCO_CHECK(x.dim() == 4 && k >= 1, RuntimeError, "avg_pool: expected [N, C, H, W] and k >= 1, got ", x.sizes(),
              " and k = ", k);
  return BlockMean::apply(x, k);
}

}  // namespace disco
