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

// The taps are the dense matrix's nonzero entries, exactly, and a band: for DD's largest crop
// (768 -> 224) at most ceil(4 * 768 / 224) = 14 per output.
TEST(ResizeRight, TapsAreTheMatrixsNonzeroEntries) {
  for (const auto& [in, out] : std::vector<std::pair<int64_t, int64_t>>{{768, 224}, {300, 224}, {224, 224}, {100, 224}, {7, 3}}) {
    SCOPED_TRACE(testing::Message() << in << " -> " << out);
    const auto dense = g::resize_right_matrix(in, out);
    const auto taps = g::resize_right_taps(in, out);
    ASSERT_EQ(taps->out.size(), taps->weight.size());
    ASSERT_EQ(taps->in.size(), taps->weight.size());
    auto rebuilt = torch::zeros({out, in});
    for (size_t e = 0; e < taps->weight.size(); ++e) rebuilt[taps->out[e]][taps->in[e]] = taps->weight[e];
    EXPECT_TRUE(torch::equal(rebuilt, dense));
    EXPECT_EQ(static_cast<int64_t>(taps->weight.size()), dense.ne(0).sum().item<int64_t>());
  }
  EXPECT_LE(g::resize_right_taps(768, 224)->weight.size(), 224u * 14u);
}

// A ResizeWeights keeps what it computed for its own life: the same taps and matrices again, and the
// resize through it equal to the one without.
TEST(ResizeRight, WeightsAreKeptByTheirOwner) {
  g::ResizeWeights weights;
  const auto taps = weights.taps(300, 224);
  EXPECT_EQ(weights.taps(300, 224), taps);
  EXPECT_EQ(taps->weight, g::resize_right_taps(300, 224)->weight);
  const auto x = torch::rand({1, 3, 30, 20});
  const auto m = weights.matrix(30, 10, x);
  EXPECT_TRUE(m.is_same(weights.matrix(30, 10, x)));
  EXPECT_TRUE(torch::equal(m, g::resize_right_matrix(30, 10)));
  EXPECT_FALSE(weights.matrix(30, 10, x.to(torch::kDouble)).is_same(m));  // per dtype
  EXPECT_TRUE(torch::equal(g::resize_right(x, 10, 10, &weights), g::resize_right(x, 10, 10)));
  g::ResizeWeights other;
  EXPECT_NE(other.taps(300, 224), taps);  // another owner computes its own
}
