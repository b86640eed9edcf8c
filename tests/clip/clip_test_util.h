// Helpers shared by the CLIP network tests.
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

namespace disco::test {

// The dtype names Python prints (and models-spec-keys.txt / manifest.json use).
inline std::string python_dtype(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "float32";
    case torch::kHalf: return "float16";
    case torch::kBFloat16: return "bfloat16";
    case torch::kDouble: return "float64";
    case torch::kLong: return "int64";
    case torch::kInt: return "int32";
    default: return c10::toString(t);
  }
}

// max |a - b| / max |b|: one relative number for a whole embedding.
inline double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  auto ad = a.detach().to(torch::kDouble), bd = b.detach().to(torch::kDouble);
  return (ad - bd).abs().max().item<double>() / bd.abs().max().item<double>();
}

}  // namespace disco::test
