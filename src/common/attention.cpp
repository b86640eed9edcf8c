#include "common/attention.h"

#include "common/error.h"
#include "torch_features.h"

namespace disco {

bool fused_attention_available() { return DISCO_HAVE_SDPA != 0; }

torch::Tensor fused_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                              const torch::Tensor& mask) {
#if DISCO_HAVE_SDPA
  if (mask.defined()) return at::scaled_dot_product_attention(q, k, v, mask.to(q.scalar_type()));
  return at::scaled_dot_product_attention(q, k, v);
#else
  throw RuntimeError("fused attention is not available in this libtorch (it needs 2.0 or newer).");
#endif
}

}  // namespace disco
