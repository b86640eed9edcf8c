#include "support/formula_weights.h"

#include <set>

#include <gtest/gtest.h>

namespace disco::test {

torch::Tensor formula_tensor(int64_t k, at::IntArrayRef shape, double offset, double scale) {
  auto out = torch::empty(shape, torch::kFloat32);
  float* p = out.data_ptr<float>();
  const uint32_t base = uint32_t(k + 1) * 0x632BE5ABu;
  for (int64_t i = 0; i < out.numel(); ++i) {
    uint32_t h = uint32_t(i) * 0x9E3779B1u + base;
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    double u = double(h >> 8) / 16777216.0;
    p[i] = float(offset + scale * (2.0 * u - 1.0));
  }
  return out;
}

void apply_formula_rows(torch::nn::Module& module, const nlohmann::json& rows) {
  torch::NoGradGuard no_grad;
  auto params = module.named_parameters(true);
  auto buffers = module.named_buffers(true);
  std::set<std::string> seen;
  for (const auto& row : rows) {
    int64_t k = row.at(0).get<int64_t>();
    std::string key = row.at(1).get<std::string>();
    auto shape = row.at(2).get<std::vector<int64_t>>();
    torch::Tensor* dst = params.find(key);
    if (!dst) dst = buffers.find(key);
    if (!dst) {
      ADD_FAILURE() << "module has no tensor '" << key << "' listed in the formula table";
      continue;
    }
    if (dst->sizes() != at::IntArrayRef(shape)) {
      ADD_FAILURE() << "'" << key << "' has shape " << dst->sizes() << ", formula table says "
                    << at::IntArrayRef(shape);
      continue;
    }
    auto w = formula_tensor(k, shape, row.at(3).get<double>(), row.at(4).get<double>());
    auto first_two = row.at(5).get<std::vector<double>>();
    auto flat = w.flatten();
    for (size_t i = 0; i < first_two.size() && int64_t(i) < flat.numel(); ++i)
      EXPECT_EQ(flat[int64_t(i)].item<float>(), float(first_two[i])) << key << " value " << i;
    EXPECT_NEAR(w.to(torch::kDouble).sum().item<double>(), row.at(6).get<double>(),
                1e-9 * std::max(1.0, std::abs(row.at(6).get<double>())) + 1e-6)
        << key << " sum";
    dst->copy_(w);
    seen.insert(key);
  }
  for (const auto& p : params)
    if (!seen.count(p.key())) ADD_FAILURE() << "parameter '" << p.key() << "' not in the formula table";
}

}  // namespace disco::test
