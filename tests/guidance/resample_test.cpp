#include "guidance/resample.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace g = disco::guidance;

TEST(Resample, RampIsSymmetricWithoutItsEnds) {
  auto r = g::lanczos_ramp(0.5, 2);  // n = 5 -> 7 taps: -1.5 .. 1.5
  ASSERT_EQ(r.numel(), 7);
  EXPECT_FLOAT_EQ(r[0].item<float>(), -1.5f);
  EXPECT_FLOAT_EQ(r[3].item<float>(), 0.f);
  EXPECT_FLOAT_EQ(r[6].item<float>(), 1.5f);
  auto k = g::lanczos_kernel(r, 2);
  EXPECT_NEAR(k.sum().item<float>(), 1.f, 1e-6);
  EXPECT_TRUE(torch::allclose(k, k.flip({0})));
}

TEST(Resample, SameSizeIsIdentityAndConstantsStayConstant) {
  auto x = torch::rand({1, 3, 9, 11});
  EXPECT_TRUE(torch::allclose(g::resample(x, 9, 11), x, 1e-5, 1e-6));
  auto c = torch::full({2, 3, 40, 30}, -0.25f);
  EXPECT_TRUE(torch::allclose(g::resample(c, 13, 17), torch::full({2, 3, 13, 17}, -0.25f), 1e-5, 1e-6));
}

TEST(Resample, RejectsBadSizes) {
  EXPECT_THROW(g::resample(torch::rand({3, 8, 8}), 4, 4), disco::SettingsError);
  EXPECT_THROW(g::resample(torch::rand({1, 3, 8, 8}), 0, 4), disco::SettingsError);
  EXPECT_THROW(g::resample(torch::rand({1, 3, 40, 8}), 1, 8), disco::SettingsError);  // filter wider than image
}
