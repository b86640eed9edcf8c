#include "guidance/resize_right.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace g = disco::guidance;

TEST(ResizeRight, SameSizeIsIdentity) {
  auto x = torch::rand({2, 3, 7, 9});
  EXPECT_TRUE(torch::equal(g::resize_right(x, 7, 9), x));
}

TEST(ResizeRight, InteriorRowsSumToOneAndBorderRowsDarken) {
  for (auto [in, out] : {std::pair<int64_t, int64_t>{50, 32}, {24, 224}, {57, 24}, {40, 17}}) {
    auto m = g::resize_right_matrix(in, out);
    ASSERT_EQ(m.sizes(), (std::vector<int64_t>{out, in}));
    auto sums = m.sum(1);
    // Middle rows see no padding; at least one border row loses weight to the zero padding.
    EXPECT_NEAR(sums[out / 2].item<float>(), 1.0f, 1e-5) << in << "->" << out;
    EXPECT_LT(std::min(sums[0].item<float>(), sums[out - 1].item<float>()), 1.0f) << in << "->" << out;
  }
}

TEST(ResizeRight, ConstantImageStaysConstantAwayFromBorders) {
  auto x = torch::full({1, 3, 64, 80}, 0.7f);
  auto y = g::resize_right(x, 20, 30);
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{1, 3, 20, 30}));
  EXPECT_NEAR(y[0][1][10][15].item<float>(), 0.7f, 1e-5);
  EXPECT_LT(y[0][1][0][0].item<float>(), 0.7f);  // zero padding darkens the corner
}

TEST(ResizeRight, GradientIsTheTransposedMatrix) {
  auto x = torch::rand({1, 1, 12, 5}, torch::requires_grad());
  auto y = g::resize_right(x, 6, 5);
  auto w = torch::rand_like(y);
  (y * w).sum().backward();
  auto expected = torch::matmul(g::resize_right_matrix(12, 6).t(), w);
  EXPECT_TRUE(torch::allclose(x.grad(), expected, 1e-5, 1e-6));
}

TEST(ResizeRight, WorksInDoubleAndOnBatches) {
  auto x = torch::rand({4, 3, 30, 20}, torch::kDouble);
  auto y = g::resize_right(x, 10, 10);
  EXPECT_EQ(y.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::allclose(y[2], g::resize_right(x[2], 10, 10)));
}

TEST(ResizeRight, RejectsEmptySizes) {
  auto x = torch::rand({1, 3, 8, 8});
  EXPECT_THROW(g::resize_right(x, 0, 4), disco::SettingsError);
  EXPECT_THROW(g::resize_right(torch::rand({1, 3, 0, 8}), 4, 4), disco::SettingsError);
  EXPECT_THROW(g::resize_right_matrix(5, -1), disco::SettingsError);
}
