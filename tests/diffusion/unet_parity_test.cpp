// UNet forward against the reference (manifest section "unet"): one case per expected tensor
// "out_<cfg>", configuration, weights, inputs and tolerance all from manifest.json.
#include <gtest/gtest.h>

#include "diffusion/unet.h"
#include "io/state_dict.h"
#include "support/fixtures.h"
#include "support/formula_weights.h"

namespace disco::diffusion {
namespace {

const nlohmann::json& unet_section() { return test::manifest().at("unet"); }

// Names of the configurations with an expected output, e.g. {"cfgA", "cfgB"}.
std::vector<std::string> cases() {
  std::vector<std::string> out;
  try {
    for (const auto& [name, entry] : unet_section().at("tensors").items())
      if (name.rfind("out_", 0) == 0 && entry.value("role", "") == "expected") out.push_back(name.substr(4));
  } catch (const std::exception& e) {
    out.push_back("manifest_unreadable");  // reported as a failure below
  }
  return out;
}

class UNetParity : public ::testing::TestWithParam<std::string> {};

TEST_P(UNetParity, MatchesReference) {
  const std::string cfg = GetParam();
  ASSERT_TRUE(unet_section().contains(cfg)) << "manifest.json has no unet." << cfg << " (fixtures: " << test::fixtures_dir() << ")";
  const auto& entry = unet_section().at(cfg);
  UNetModel model(UNetConfig::from_model_config(entry.at("model_config")));
  model->eval();

  const std::string weights = "unet_" + cfg + ".pt";
  if (unet_section().contains("files") && unet_section().at("files").contains(weights)) {
    io::load_state_dict(*model, test::load_fixture(weights), weights);
  } else {
    ASSERT_TRUE(entry.contains("formula_check")) << "unet." << cfg << " has neither " << weights << " nor formula_check";
    test::apply_formula_rows(*model, entry.at("formula_check").at("rows"));
  }

  const test::Fixture fx("unet");
  const auto& x = fx["x"];
  const auto& t = fx["t"];
  torch::NoGradGuard no_grad;
  auto out = model(x, t);
  fx.check(out, "out_" + cfg);
}

INSTANTIATE_TEST_SUITE_P(Manifest, UNetParity, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// The stored t is DD's model time: float32(timestep_map[k]) * float32(1000 / T_orig) per batch
// element (the respacing that yields timestep_map belongs to the schedule's tests).
TEST(UNetParityInputs, TimestepsAreDDModelTime) {
  const auto& src = unet_section().at("t_source");
  auto fx = test::load_fixture(unet_section().at("expected_file").get<std::string>());
  const auto& t = fx["t"];
  ASSERT_EQ(t.numel(), static_cast<int64_t>(src.size()));
  for (size_t b = 0; b < src.size(); ++b) {
    const float scale = static_cast<float>(1000.0 / src[b].at("T_orig").get<double>());
    const float t_model = static_cast<float>(src[b].at("timestep_map_k").get<int64_t>()) * scale;
    EXPECT_EQ(t[b].item<float>(), t_model) << "batch element " << b;
    EXPECT_EQ(t[b].item<float>(), static_cast<float>(src[b].at("t_model").get<double>())) << "batch element " << b;
  }
}

}  // namespace
}  // namespace disco::diffusion
