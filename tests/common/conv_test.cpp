#include "common/conv.h"

#include <gtest/gtest.h>

namespace disco {
namespace {

struct Case {
  int64_t cin, cout, k, stride, padding, dilation, groups, h, w;
  bool bias;
};

// The input gradient equals aten's conv2d's (float64), for strides that leave rows unseen (output
// padding), 1x1 kernels, dilation, groups, with and without bias; the forward is aten's.
TEST(InputGradConv, GradientEqualsAtenConvolution) {
  torch::manual_seed(11);
  const std::vector<Case> cases = {{4, 6, 3, 1, 1, 1, 1, 9, 7, true},  {4, 6, 3, 2, 1, 1, 1, 9, 8, true},
                                   {4, 6, 1, 1, 0, 1, 1, 5, 6, false}, {4, 6, 3, 1, 2, 2, 1, 8, 8, true},
                                   {4, 6, 3, 1, 1, 1, 2, 6, 5, false}, {3, 8, 7, 2, 3, 1, 1, 15, 14, true}};
  for (const auto& c : cases) {
    SCOPED_TRACE("k " + std::to_string(c.k) + " stride " + std::to_string(c.stride));
    const auto opts = torch::TensorOptions().dtype(torch::kFloat64);
    const auto weight = torch::randn({c.cout, c.cin / c.groups, c.k, c.k}, opts);
    const auto bias = c.bias ? torch::randn({c.cout}, opts) : torch::Tensor();
    const auto x0 = torch::randn({2, c.cin, c.h, c.w}, opts);
    auto a = x0.clone().requires_grad_(true), b = x0.clone().requires_grad_(true);
    const auto ya = conv2d_keeping_weight(a, weight, bias, c.stride, c.padding, c.dilation, c.groups);
    const auto yb = torch::conv2d(b, weight, bias, c.stride, c.padding, c.dilation, c.groups);
    ASSERT_TRUE(torch::equal(ya, yb));
    const auto g = torch::randn(ya.sizes(), opts);
    ya.backward(g);
    yb.backward(g);
    EXPECT_TRUE(torch::allclose(a.grad(), b.grad(), 1e-12, 1e-12));
  }
}

// The graph does not keep the input: changing it in place afterwards does not trip autograd's
// version check, which aten's convolution (keeping it) does.
TEST(InputGradConv, KeepsOnlyTheWeight) {
  const auto weight = torch::randn({3, 2, 3, 3});
  auto leaf = torch::randn({1, 2, 6, 6}).requires_grad_(true);
  auto x = leaf * 2.0;
  auto y = conv2d_keeping_weight(x, weight, {}, 1, 1);
  {
    torch::NoGradGuard no_grad;
    x.add_(1);
  }
  EXPECT_NO_THROW(y.sum().backward());
  auto x2 = leaf * 2.0;
  auto y2 = torch::conv2d(x2, weight, {}, 1, 1);
  {
    torch::NoGradGuard no_grad;
    x2.add_(1);
  }
  EXPECT_ANY_THROW(y2.sum().backward());
}

// bfloat16 on the CPU (libtorch 1.13's transposed convolution fails there; float32 stands in).
TEST(InputGradConv, BFloat16GradientOnTheCpu) {
  const auto weight = torch::randn({64, 128, 3, 3}).to(torch::kBFloat16);
  auto x = torch::randn({1, 128, 8, 12}).to(torch::kBFloat16).requires_grad_(true);
  conv2d_keeping_weight(x, weight, {}, 1, 1).sum().backward();
  auto x32 = x.detach().to(torch::kFloat).requires_grad_(true);
  torch::conv2d(x32, weight.to(torch::kFloat), {}, 1, 1).sum().backward();
  ASSERT_EQ(x.grad().scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::allclose(x.grad().to(torch::kFloat), x32.grad(), 2e-2, 2e-1));
}

// conv2d_input_grad takes aten's conv2d on the CPU (its graph keeps the input).
TEST(InputGradConv, CpuTakesAtenConvolution) {
  const auto weight = torch::randn({3, 2, 3, 3});
  auto x = torch::randn({1, 2, 6, 6}).requires_grad_(true) * 2.0;
  auto y = conv2d_input_grad(x, weight, {}, 1, 1);
  {
    torch::NoGradGuard no_grad;
    x.add_(1);
  }
  EXPECT_ANY_THROW(y.sum().backward());
}

// Where a weight gradient is wanted, or none at all is recorded, it is aten's conv2d.
TEST(InputGradConv, FallsBackWhenTheWeightNeedsAGradient) {
  const auto weight = torch::randn({3, 2, 3, 3}).requires_grad_(true);
  auto x = torch::randn({1, 2, 6, 6}).requires_grad_(true);
  conv2d_keeping_weight(x, weight, {}, 1, 1).sum().backward();
  EXPECT_TRUE(weight.grad().defined());
  torch::NoGradGuard no_grad;
  EXPECT_FALSE(conv2d_keeping_weight(x, weight.detach(), {}, 1, 1).requires_grad());
}

}  // namespace
}  // namespace disco
