#include "guidance/losses.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/error.h"

namespace g = disco::guidance;

TEST(Losses, SphericalDistanceIsHalfTheSquaredAngle) {
  auto x = torch::tensor({{1.f, 0.f, 0.f}, {0.f, 2.f, 0.f}});
  auto y = torch::tensor({{3.f, 0.f, 0.f}});
  auto d = g::spherical_dist_loss(x, y);  // [2]
  EXPECT_NEAR(d[0].item<float>(), 0.f, 1e-7);
  EXPECT_NEAR(d[1].item<float>(), M_PI * M_PI / 8, 1e-6);  // θ = π/2
  EXPECT_THROW(g::spherical_dist_loss(torch::rand({2, 3}), torch::rand({2, 4})), disco::SettingsError);
}

TEST(Losses, TvOfConstantIsZeroAndOfAStepIsCounted) {
  EXPECT_EQ(g::tv_loss(torch::full({2, 3, 5, 6}, 0.3f)).abs().max().item<float>(), 0.f);
  auto x = torch::zeros({1, 1, 2, 2});
  x[0][0][0][1] = 1;  // dx at (0,0) = 1, dy at (0,1) = -1 -> (1 + 1) / 4
  EXPECT_NEAR(g::tv_loss(x)[0].item<float>(), 0.5f, 1e-7);
  EXPECT_THROW(g::tv_loss(torch::rand({3, 4})), disco::SettingsError);
}

TEST(Losses, RangeAndSatOnlySeeValuesOutsideUnitInterval) {
  auto x = torch::rand({2, 3, 4, 4}) * 2 - 1;
  EXPECT_EQ(g::range_loss(x).abs().max().item<float>(), 0.f);
  EXPECT_EQ(g::sat_loss(x).item<float>(), 0.f);
  auto y = torch::zeros({1, 1, 1, 2});
  y[0][0][0][0] = 3;  // excess 2
  EXPECT_NEAR(g::range_loss(y)[0].item<float>(), 2.f, 1e-7);  // 4 / 2
  EXPECT_NEAR(g::sat_loss(y).item<float>(), 1.f, 1e-7);       // 2 / 2
}
