// Symmetry transformation and firing rule (dd-spec §4.4) on hand-made cases.
#include "disco/symmetry.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"

TEST(Symmetry, HorizontalMirrorsTheLeftHalfOntoTheRight) {
  auto x = torch::arange(8, torch::kFloat).view({1, 1, 2, 4});  // rows [0 1 2 3], [4 5 6 7]
  auto y = disco::symmetry_transformation(x, true, false);
  EXPECT_TRUE(torch::equal(y, torch::tensor({0.f, 1.f, 1.f, 0.f, 4.f, 5.f, 5.f, 4.f}).view({1, 1, 2, 4})));
}

TEST(Symmetry, VerticalMirrorsTheTopHalfOntoTheBottomAfterHorizontal) {
  auto x = torch::arange(16, torch::kFloat).view({1, 1, 4, 4});
  auto v = disco::symmetry_transformation(x, false, true);
  EXPECT_TRUE(torch::equal(v.select(2, 3), x.select(2, 0)));
  EXPECT_TRUE(torch::equal(v.select(2, 2), x.select(2, 1)));
  auto both = disco::symmetry_transformation(x, true, true);
  EXPECT_TRUE(torch::equal(both, disco::symmetry_transformation(disco::symmetry_transformation(x, true, false), false, true)));
  EXPECT_TRUE(torch::equal(both.flip({-1}), both));
  EXPECT_TRUE(torch::equal(both.flip({-2}), both));
}

TEST(Symmetry, OddWidthLosesAColumnLikeDd) {
  auto x = torch::zeros({1, 3, 4, 5});
  EXPECT_EQ(disco::symmetry_transformation(x, true, false).size(-1), 4);
}

TEST(Symmetry, FiringRuleTruncatesAndSkipsZeroPercent) {
  // DD default: L = 240, p = 0.09 -> int(218.4) = 218.
  EXPECT_EQ(disco::transformation_steps(240, {0.09}), (std::vector<int64_t>{218}));
  disco::SymmetrySchedule s(240, {0.0, 1.0, 0.5, 0.5});
  EXPECT_EQ(s.steps(), (std::vector<int64_t>{240, 0, 120, 120}));
  int fired = 0;
  for (int64_t i = 239; i >= 0; --i) fired += s.should_fire(i);
  EXPECT_EQ(fired, 2);  // p = 0 never (i < L), p = 1 at i = 0, the duplicate once
  EXPECT_TRUE(s.should_fire(0));
  EXPECT_THROW(disco::transformation_steps(240, {1.5}), disco::SettingsError);
}
