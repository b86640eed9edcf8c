// Secondary model against the reference (manifest section "secondary"): formula weights,
// inputs and tolerances from manifest.json.
#include <gtest/gtest.h>

#include "diffusion/schedule.h"
#include "diffusion/secondary_model.h"
#include "support/fixtures.h"
#include "support/formula_weights.h"

namespace disco::diffusion {
namespace {

const nlohmann::json& secondary_section() { return test::manifest().at("secondary"); }

TEST(SecondaryParity, PredAndEpsMatchReference) {
  SecondaryDiffusionImageNet2 model;
  model->eval();
  test::apply_formula_rows(*model, secondary_section().at("state_dict_keys").at("rows"));
  const test::Fixture fx("secondary");
  torch::NoGradGuard no_grad;
  auto out = model(fx["x"], fx["t"]);
  int compared = 0;
  for (const auto& [name, entry] : secondary_section().at("tensors").items()) {
    if (entry.value("role", "") != "expected") continue;
    const torch::Tensor* got = name == "pred" ? &out.pred : name == "eps" ? &out.eps : name == "v" ? &out.v : nullptr;
    if (!got) {
      ADD_FAILURE() << "manifest secondary.tensors." << name << " is expected but the model has no such output";
      continue;
    }
    test::expect_close(*got, fx[name], "secondary." + name, test::tolerance_from(entry));
    ++compared;
  }
  EXPECT_GT(compared, 0) << "manifest secondary.tensors lists no expected tensor";
}

// DD's model time for the secondary model: alpha and sigma are the float32 roundings of the
// schedule's sqrt_alphas_cumprod[k] and sqrt_one_minus_alphas_cumprod[k] (t_info gives the run),
// t = atan2(sigma, alpha) * 2 / pi of the stored alpha, sigma.
TEST(SecondaryParity, CosineTimeFromAlphaSigma) {
  const test::Fixture fx("secondary");
  const auto& tensors = secondary_section().at("tensors");
  ASSERT_TRUE(tensors.contains("alpha") && tensors.contains("sigma") && tensors.contains("t"));
  const auto& info = secondary_section().at("t_info");
  const auto schedule = make_schedule(info.at("T_orig"), "ddim" + std::to_string(info.at("steps").get<int64_t>()));
  const int64_t k = info.at("k");
  fx.check(torch::scalar_tensor(at(schedule.sqrt_alphas_cumprod, k)), "alpha");
  fx.check(torch::scalar_tensor(at(schedule.sqrt_one_minus_alphas_cumprod, k)), "sigma");
  auto t = alpha_sigma_to_t(fx["alpha"], fx["sigma"]);
  // Tolerance of the alpha/sigma intermediates they are computed from.
  test::expect_close(t.expand(fx["t"].sizes()), fx["t"], "secondary.t_from_alpha_sigma",
                     test::tolerance_from(tensors.at("alpha")));
}

}  // namespace
}  // namespace disco::diffusion
