// Helpers shared by the diffusion key tests: the name/shape/dtype rows of a module in state-dict
// order, to compare with the sections of models-spec-keys.txt (support/spec_keys.h).
#pragma once
#include <string>
#include <vector>

#include <torch/torch.h>

#include "support/spec_keys.h"

namespace disco::test {

using KeyRow = SpecKey;

inline std::string dtype_text(const at::Tensor& t) {
  std::string s = c10::toString(t.scalar_type());  // "Float"
  if (s == "Float") return "float32";
  if (s == "Half") return "float16";
  return s;
}

// Parameters then buffers, in registration (= Python state_dict) order.
inline std::vector<KeyRow> module_key_rows(const torch::nn::Module& m) {
  std::vector<KeyRow> rows;
  for (const auto& p : m.named_parameters(true)) rows.push_back({p.key(), shape_text(p.value().sizes()), dtype_text(p.value())});
  for (const auto& b : m.named_buffers(true)) rows.push_back({b.key(), shape_text(b.value().sizes()), dtype_text(b.value())});
  return rows;
}

// Compares in order and reports the first difference (one failure, not hundreds).
inline void expect_same_rows(const std::vector<KeyRow>& actual, const std::vector<KeyRow>& want) {
  EXPECT_EQ(actual.size(), want.size()) << "number of tensors differs";
  for (size_t i = 0; i < std::min(actual.size(), want.size()); ++i) {
    if (!(actual[i] == want[i])) {
      ADD_FAILURE() << "tensor #" << i << ": got " << actual[i].name << " " << actual[i].shape << " "
                    << actual[i].dtype << ", spec says " << want[i].name << " " << want[i].shape << " "
                    << want[i].dtype;
      return;
    }
  }
}

inline int64_t parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(true)) n += p.numel();
  return n;
}

}  // namespace disco::test
