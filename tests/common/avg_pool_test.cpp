#include "common/avg_pool.h"

#include <gtest/gtest.h>

namespace disco {
namespace {

// The same values and the same gradients as aten's avg_pool2d, bit for bit: even and odd sizes,
// k 2 and 3, float32 and bfloat16, NCHW and channels-last.
TEST(AvgPool, EqualsAtenForwardAndBackward) {
  torch::manual_seed(3);
  for (auto dtype : {torch::kFloat32, torch::kBFloat16})
    for (int64_t k : {2, 3})
      for (auto hw : std::vector<std::pair<int64_t, int64_t>>{{8, 12}, {9, 7}})
        for (bool channels_last : {false, true}) {
          SCOPED_TRACE(std::to_string(k) + " " + std::to_string(hw.first) + "x" + std::to_string(hw.second));
          auto x = torch::randn({2, 5, hw.first, hw.second}).to(dtype);
          if (channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
          auto a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
          const auto ya = avg_pool(a, k), yb = torch::avg_pool2d(b, {k, k}, {k, k});
          ASSERT_TRUE(torch::equal(ya, yb));
          const auto w = torch::randn(ya.sizes()).to(dtype);
          (ya * w).sum().backward();
          (yb * w).sum().backward();
          EXPECT_TRUE(torch::equal(a.grad(), b.grad()));
        }
  EXPECT_ANY_THROW(avg_pool(torch::zeros({3, 4, 4}), 2));
}

}  // namespace
}  // namespace disco
