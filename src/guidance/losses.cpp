// disco.py spherical_dist_loss / tv_loss / range_loss and cond_fn's inline sat loss.
#include "guidance/losses.h"

#include "common/error.h"

namespace disco::guidance {
namespace F = torch::nn::functional;

torch::Tensor spherical_dist_loss(const torch::Tensor& x, const torch::Tensor& y) {
  DISCO_CHECK(x.dim() >= 1 && y.dim() >= 1 && x.size(-1) == y.size(-1), SettingsError,
              "spherical_dist_loss: the embeddings must share their last dimension (got ", x.sizes(), " and ",
              y.sizes(), ").");
  auto xn = F::normalize(x, F::NormalizeFuncOptions().dim(-1));
  auto yn = F::normalize(y, F::NormalizeFuncOptions().dim(-1));
  return (xn - yn).norm(2, {-1}).div(2).arcsin().pow(2).mul(2);
}

torch::Tensor tv_loss(const torch::Tensor& x) {
  DISCO_CHECK(x.dim() == 4, SettingsError, "tv_loss: expected an image batch [N, C, H, W], got ", x.sizes(), ".");
  // x [N, C, H, W] -> [N, C, H+1, W+1]
  auto p = F::pad(x, F::PadFuncOptions({0, 1, 0, 1}).mode(torch::kReplicate));
  const int64_t h = p.size(2), w = p.size(3);
  auto x_diff = p.slice(2, 0, h - 1).slice(3, 1, w) - p.slice(2, 0, h - 1).slice(3, 0, w - 1);
  auto y_diff = p.slice(2, 1, h).slice(3, 0, w - 1) - p.slice(2, 0, h - 1).slice(3, 0, w - 1);
  return (x_diff.pow(2) + y_diff.pow(2)).mean({1, 2, 3});
}

torch::Tensor range_loss(const torch::Tensor& x) {
  DISCO_CHECK(x.dim() == 4, SettingsError, "range_loss: expected an image batch [N, C, H, W], got ", x.sizes(),
              ".");
  return (x - x.clamp(-1, 1)).pow(2).mean({1, 2, 3});
}

torch::Tensor sat_loss(const torch::Tensor& x) { return torch::abs(x - x.clamp(-1, 1)).mean(); }

}  // namespace disco::guidance
