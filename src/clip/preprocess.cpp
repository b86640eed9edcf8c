#include "clip/preprocess.h"

#include "common/device.h"
#include "common/error.h"

namespace disco::clip {

torch::Tensor normalize(const torch::Tensor& x) {
  DISCO_CHECK(x.dim() >= 3 && x.size(-3) == 3, RuntimeError,
              "CLIP normalisation expects RGB images [N,3,H,W], got shape ", x.sizes());
  auto opts = x.options().requires_grad(false);
  auto mean = upload(torch::tensor({kClipMean[0], kClipMean[1], kClipMean[2]}, torch::kDouble), opts).view({3, 1, 1});
  auto std = upload(torch::tensor({kClipStd[0], kClipStd[1], kClipStd[2]}, torch::kDouble), opts).view({3, 1, 1});
  return (x - mean) / std;
}

}  // namespace disco::clip
