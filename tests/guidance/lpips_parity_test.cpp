// LPIPS(net='vgg') against the reference (manifest section "lpips"): formula weights for the
// 31 weight tensors, every pair's output, per-layer terms and input gradient.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "guidance/lpips.h"
#include "support/fixtures.h"
#include "support/formula_weights.h"

namespace dg = disco::guidance;
using disco::test::manifest;
using nlohmann::json;

namespace {

const json& lpips_section() { return manifest().at("lpips"); }

dg::LPIPS formula_lpips() {
  dg::LPIPS model;
  disco::test::apply_formula_rows(*model, lpips_section().at("formula_check").at("rows"));
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  return model;
}

}  // namespace

TEST(LpipsParity, ScalingLayerConstantsMatchManifest) {
  dg::LPIPS model;
  const auto& c = lpips_section().at("scaling_layer_float32");
  const auto shift = torch::tensor(c.at("shift").get<std::vector<float>>()).view({1, 3, 1, 1});
  const auto scale = torch::tensor(c.at("scale").get<std::vector<float>>()).view({1, 3, 1, 1});
  EXPECT_TRUE(torch::equal(model->scaling_layer->shift, shift));
  EXPECT_TRUE(torch::equal(model->scaling_layer->scale, scale));
}

TEST(LpipsParity, StateDictKeysMatchManifest) {
  dg::LPIPS model;
  std::vector<std::string> ours;
  for (const auto& b : model->named_buffers()) ours.push_back(b.key());
  for (const auto& p : model->named_parameters()) ours.push_back(p.key());
  std::vector<std::string> theirs;
  for (const auto& row : lpips_section().at("state_dict_keys").at("rows")) {
    const std::string key = row.at(0);
    if (key.rfind("lins.", 0) == 0) continue;  // ModuleList alias of lin0..lin4, same tensors
    theirs.push_back(key);
    const auto* t = model->named_parameters().find(key);
    if (!t) t = model->named_buffers().find(key);
    ASSERT_NE(t, nullptr) << key;
    EXPECT_EQ(t->sizes().vec(), row.at(1).get<std::vector<int64_t>>()) << key;
  }
  EXPECT_EQ(ours, theirs);
}

TEST(LpipsParity, PairsMatchReference) {
  auto model = formula_lpips();
  const disco::test::Fixture fx("lpips");
  int pairs = 0;
  for (const auto& r : lpips_section().at("run")) {
    const std::string p = "pair" + std::to_string(r.at("pair").get<int>()) + ".";
    SCOPED_TRACE(p);
    const auto x = fx[p + "x"].clone().requires_grad_(true);
    const auto y = fx[p + "y"];
    std::vector<torch::Tensor> per_layer;
    const auto out = model->forward(x, y, &per_layer);
    const auto grad = torch::autograd::grad({out.sum()}, {x})[0];
    fx.check(out, p + "out");
    fx.check(grad, p + "grad_x");
    if (fx.lists(p + "per_layer")) {
      std::vector<torch::Tensor> flat;
      for (const auto& l : per_layer) flat.push_back(l.reshape({-1}));
      fx.check(torch::cat(flat), p + "per_layer");
    }
    EXPECT_NEAR(out.item<double>(), r.at("lpips").get<double>(), 1e-5);
    ++pairs;
  }
  EXPECT_GT(pairs, 0) << "manifest lpips.run lists no pair";
}
