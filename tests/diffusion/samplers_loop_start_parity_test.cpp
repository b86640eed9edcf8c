// Loop-start parity (pure schedule math, no network): q_sample of the stored init (manifest
// "init_image") and of the zero init with skip_steps > 0 ("plms_cond_fn" x_start).
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/samplers.h"
#include "support/fixtures.h"

namespace dd = disco::diffusion;
using disco::test::expect_close;
using disco::test::manifest;
using disco::test::tolerance_from;
using nlohmann::json;
using torch::Tensor;

namespace {

void check(const json& sec, const disco::io::TensorMap& want, const Tensor& got, const std::string& name,
           const std::string& label) {
  ASSERT_TRUE(want.contains(name)) << name << " is missing from " << sec.at("expected_file");
  expect_close(got, want[name], label + "." + name, tolerance_from(sec.at("tensors").at(name)));
}

}  // namespace

TEST(Samplers, LoopStartMatchesInitImageReference) {
  const json& sec = manifest().at("init_image");
  const auto want = disco::test::load_fixture(sec.at("expected_file"));
  ASSERT_TRUE(want.contains("init") && want.contains("noise"));
  const Tensor init = want["init"], noise = want["noise"];
  int runs = 0;
  for (const auto& r : sec.at("runs")) {
    const std::string p = "run" + std::to_string(r.at("run").get<int>());
    SCOPED_TRACE(p);
    const auto schedule = dd::make_schedule(r.at("T_orig"), r.at("respacing").get<std::string>());
    const int64_t skip = r.at("skip_steps");
    const int64_t i0 = dd::first_index(schedule, skip);
    EXPECT_EQ(i0, r.at("i0").get<int64_t>());
    EXPECT_EQ(schedule.t_model(i0), r.at("t_model").get<float>());
    if (sec.at("tensors").contains(p + ".i0"))
      check(sec, want, torch::scalar_tensor(i0, torch::kLong), p + ".i0", "init_image");
    if (sec.at("tensors").contains(p + ".t_model"))
      check(sec, want, dd::t_model_tensor(schedule, i0, noise), p + ".t_model", "init_image");
    if (r.contains("coef_float32")) {
      EXPECT_EQ(dd::at(schedule.sqrt_alphas_cumprod, i0), r.at("coef_float32").at(0).get<float>());
      EXPECT_EQ(dd::at(schedule.sqrt_one_minus_alphas_cumprod, i0), r.at("coef_float32").at(1).get<float>());
    }
    check(sec, want, dd::loop_start(schedule, noise, init, skip), p + ".x_start", "init_image");
    ++runs;
  }
  EXPECT_GT(runs, 0);
}

TEST(Samplers, LoopStartMatchesZeroInitReference) {
  const json& sec = manifest().at("plms_cond_fn");
  const auto want = disco::test::load_fixture(sec.at("expected_file"));
  const json& run = sec.at("run");
  const auto schedule = dd::make_schedule(run.at("T_orig"), "ddim" + std::to_string(run.at("steps").get<int64_t>()));
  EXPECT_EQ(dd::first_index(schedule, run.at("skip")), run.at("k1").get<int64_t>());
  ASSERT_TRUE(want.contains("noise"));
  check(sec, want, dd::loop_start(schedule, want["noise"], Tensor(), run.at("skip")), "x_start", "plms_cond_fn");
}
