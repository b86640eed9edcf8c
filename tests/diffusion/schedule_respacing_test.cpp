// Schedule unit tests: DD's T_orig rule, space_timesteps (ddim stride rule, sections with Python
// round-half-even), the respaced tables against models-spec §2.2's reference values, t_model.
#include <cmath>
#include <set>

#include <gtest/gtest.h>

#include "common/error.h"
#include "diffusion/schedule.h"

namespace dd = disco::diffusion;

TEST(Schedule, DdDiffusionStepsFollowsDdRule) {
  EXPECT_EQ(dd::dd_diffusion_steps(250), 1000);
  EXPECT_EQ(dd::dd_diffusion_steps(100), 1000);
  EXPECT_EQ(dd::dd_diffusion_steps(150), 900);
  EXPECT_EQ(dd::dd_diffusion_steps(300), 900);
  EXPECT_EQ(dd::dd_diffusion_steps(1500), 1500);
  EXPECT_THROW(dd::dd_diffusion_steps(0), disco::SettingsError);
}

TEST(Schedule, DdimRespacingTakesSmallestStride) {
  auto a = dd::space_timesteps(1000, "ddim250");
  ASSERT_EQ(a.size(), 250u);
  EXPECT_EQ(a[1], 4);
  EXPECT_EQ(a.back(), 996);
  auto b = dd::space_timesteps(900, "ddim150");
  ASSERT_EQ(b.size(), 150u);
  EXPECT_EQ(b[1], 6);
  EXPECT_EQ(b.back(), 894);
  EXPECT_EQ(dd::space_timesteps(1000, "ddim25")[1], 40);
  EXPECT_THROW(dd::space_timesteps(1000, "ddim999"), disco::SettingsError);
  EXPECT_THROW(dd::space_timesteps(1000, "ddimx"), disco::SettingsError);
}

TEST(Schedule, SectionRespacingUsesFractionalStrides) {
  // models-spec §2.2: "250" on 1000 -> strides {4 x246, 5 x3}, last 999 (differs from ddim250).
  auto a = dd::space_timesteps(1000, "250");
  ASSERT_EQ(a.size(), 250u);
  EXPECT_EQ(a.front(), 0);
  EXPECT_EQ(a.back(), 999);
  int fours = 0, fives = 0;
  for (size_t i = 1; i < a.size(); ++i) {
    const int64_t d = a[i] - a[i - 1];
    fours += d == 4;
    fives += d == 5;
  }
  EXPECT_EQ(fours, 246);
  EXPECT_EQ(fives, 3);

  auto b = dd::space_timesteps(1000, "10,15,20");
  ASSERT_EQ(b.size(), 45u);
  const std::set<int64_t> got(b.begin(), b.end());
  for (int64_t t : {0, 37, 74, 333, 334, 358, 666, 667, 684, 982, 999}) EXPECT_TRUE(got.count(t)) << t;
  EXPECT_THROW(dd::space_timesteps(10, "4,20"), disco::SettingsError);
}

TEST(Schedule, SectionRespacingRoundsHalfToEven) {
  // Size 6, count 3: stride 2.5 -> cur 0, 2.5, 5.0; Python round(2.5) == 2 (half-up would give 3).
  EXPECT_EQ(dd::space_timesteps(6, "3"), (std::vector<int64_t>{0, 2, 5}));
  // Size 8, count 5: stride 1.75 -> 0, 1.75, 3.5, 5.25, 7.0 -> 0, 2, 4, 5, 7 (round(3.5) == 4).
  EXPECT_EQ(dd::space_timesteps(8, "5"), (std::vector<int64_t>{0, 2, 4, 5, 7}));
}

TEST(Schedule, RespacedTablesMatchSpecReferenceValues) {
  struct Row {
    int64_t steps;
    double beta1, beta_last, abar_last, post_logvar0;
  };
  // models-spec §2.2 reference values (float64 repr).
  const Row rows[] = {
      {250, 0.0005990655644756426, 0.07729432220081744, 4.287736906800033e-05, -9.364628159803084},
      {100, 0.002093636855839631, 0.1806823309500385, 4.837047811818104e-05, -9.25690308114835},
      {50, 0.006165187946595374, 0.3246144475291255, 5.9037513708533764e-05, -9.226331928392868},
      {25, 0.02013508946067577, 0.5326018230995546, 8.741305391053614e-05, -9.215195023283597},
      {150, 0.001182588638985127, 0.12515216261507423, 4.4803977340193616e-05, -9.194678622198344},
  };
  auto near = [](double got, double want) { return std::abs(got - want) <= 1e-12 * std::abs(want); };
  for (const auto& r : rows) {
    SCOPED_TRACE(r.steps);
    const auto s = dd::dd_schedule(r.steps);
    ASSERT_EQ(s.num_timesteps(), r.steps);
    EXPECT_TRUE(near(s.betas[1], r.beta1)) << s.betas[1];
    EXPECT_TRUE(near(s.betas.back(), r.beta_last)) << s.betas.back();
    EXPECT_TRUE(near(s.alphas_cumprod.back(), r.abar_last)) << s.alphas_cumprod.back();
    EXPECT_TRUE(near(s.posterior_log_variance_clipped[0], r.post_logvar0)) << s.posterior_log_variance_clipped[0];
  }
  const auto s250 = dd::dd_schedule(250);
  EXPECT_TRUE(near(s250.betas[0], 9.999999999998899e-05)) << s250.betas[0];
  const auto s150 = dd::dd_schedule(150);
  EXPECT_TRUE(near(s150.betas[0], 0.00011111111111106187)) << s150.betas[0];
  // The "250" list respacing ends at 999, so its last alphas_cumprod is the base one.
  const auto list = dd::make_schedule(1000, "250");
  EXPECT_TRUE(near(list.betas.back(), 0.07751934499235003)) << list.betas.back();
  EXPECT_TRUE(near(list.alphas_cumprod.back(), 4.035829765375675e-05)) << list.alphas_cumprod.back();
}

TEST(Schedule, BaseScheduleMatchesSpec) {
  const auto base = dd::schedule_from_betas(dd::linear_betas(1000), 1000);
  EXPECT_DOUBLE_EQ(base.alphas_cumprod[0], 0.9999);
  EXPECT_NEAR(base.alphas_cumprod[999], 4.035829765375676e-05, 1e-17);
  EXPECT_NEAR(base.betas[999], 0.02, 1e-16);
}

TEST(Schedule, TModelIsFloat32ProductOfMapAndScale) {
  const auto s250 = dd::dd_schedule(250);
  EXPECT_EQ(s250.t_model(249), 996.0f);
  EXPECT_EQ(s250.t_model(239), 956.0f);
  EXPECT_EQ(s250.t_model(0), 0.0f);
  const auto s150 = dd::dd_schedule(150);
  EXPECT_EQ(s150.timestep_map[149], 894);
  EXPECT_EQ(s150.t_model(149), 894.0f * static_cast<float>(1000.0 / 900.0));
  EXPECT_NEAR(s150.t_model(149), 993.33337f, 1e-4);
  EXPECT_THROW(s150.t_model(150), disco::SettingsError);
}

TEST(Schedule, DdimSigmaIsZeroAtLastStepAndMatchesSpecExample) {
  const auto s = dd::dd_schedule(250);
  EXPECT_EQ(s.ddim_sigma(0, 0.8), 0.0f);
  // dd-spec §4.2: steps 250, first step after skip 10 -> sigma 0.21805.
  EXPECT_NEAR(s.ddim_sigma(239, 0.8), 0.21805, 1e-5);
  // The gather rounds the float64 entry once to float32.
  EXPECT_EQ(dd::at(s.alphas_cumprod, 3), static_cast<float>(s.alphas_cumprod[3]));
  EXPECT_THROW(dd::at(s.alphas_cumprod, 250), disco::SettingsError);
}
