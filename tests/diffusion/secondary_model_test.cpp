// SecondaryDiffusionImageNet2: the cosine-time helpers and the v -> (pred, eps) algebra.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "common/error.h"
#include "diffusion/secondary_model.h"
#include "support/bf16.h"

namespace disco::diffusion {
namespace {

TEST(SecondaryModel, AlphaSigmaToTInvertsCosineSchedule) {
  auto t = torch::tensor({0.0f, 0.25f, 0.5f, 0.99f});
  auto alpha = torch::cos(t * M_PI / 2), sigma = torch::sin(t * M_PI / 2);
  EXPECT_TRUE(torch::allclose(alpha_sigma_to_t(alpha, sigma), t, 0, 1e-6));
}

TEST(SecondaryModel, PredAndEpsRecombineToInput) {
  SecondaryDiffusionImageNet2 model;
  torch::NoGradGuard no_grad;
  auto x = torch::randn({2, 3, 32, 64});
  auto t = torch::tensor({0.3f, 0.9f});
  auto out = model(x, t);
  EXPECT_EQ(out.v.sizes(), x.sizes());
  // alpha^2 + sigma^2 = 1: x = pred*alpha + eps*sigma.
  auto alpha = torch::cos(t * M_PI / 2).view({-1, 1, 1, 1}), sigma = torch::sin(t * M_PI / 2).view({-1, 1, 1, 1});
  EXPECT_TRUE(torch::allclose(out.pred * alpha + out.eps * sigma, x, 1e-5, 1e-5));
  EXPECT_THROW(model(torch::randn({1, 3, 48, 48}), torch::tensor({0.5f})), SettingsError);
}


// Checkpointing the secondary model (five segments cut before its concatenations) changes what is
// kept, not the prediction nor the gradient: both are bit-identical to the plain network's.
TEST(SecondaryMemory, CheckpointedGradientEqualsPlainGradient) {
  torch::manual_seed(11);
  SecondaryDiffusionImageNet2 net;
  for (auto& p : net->parameters()) p.set_requires_grad(false);
  for (const auto& shape : {std::vector<int64_t>{1, 3, 32, 64}, std::vector<int64_t>{2, 3, 96, 64}}) {
    const auto x = torch::randn(shape);
    const auto t = torch::rand({shape[0]});
    const auto w = torch::randn(shape);  // a loss whose gradient differs everywhere
    const auto run = [&](bool checkpoint) {
      net->set_gradient_checkpointing(checkpoint);
      torch::AutoGradMode grad(true);
      const auto xg = x.clone().requires_grad_(true);
      const auto pred = net->forward(xg, t).pred;
      return std::make_pair(pred.detach(), torch::autograd::grad({(pred * w).sum()}, {xg})[0]);
    };
    const auto plain = run(false), checkpointed = run(true);
    EXPECT_GT(plain.second.abs().max().item<float>(), 0);
    EXPECT_TRUE(torch::equal(checkpointed.first, plain.first)) << shape;
    EXPECT_TRUE(torch::equal(checkpointed.second, plain.second))
        << shape << ": " << (checkpointed.second - plain.second).abs().max().item<float>();
  }
}

// --precision fast runs the network in half precision (bfloat16 here: the CPU's). x stays float32
// and receives a float32 gradient; both the prediction and the gradient stay near float32's.
TEST(SecondaryModel, ReducedPrecisionStaysCloseToFloat32) {
  if (const auto missing = test::cpu_bf16_missing(); !missing.empty())
    GTEST_SKIP() << "this platform lacks bfloat16 CPU kernels: " << missing;
  torch::manual_seed(12);
  SecondaryDiffusionImageNet2 net;
  net->eval();
  for (auto& p : net->parameters()) p.set_requires_grad(false);
  const auto x0 = torch::randn({1, 3, 64, 96});
  const auto t = torch::tensor({0.6f});
  const auto run = [&] {
    auto x = x0.clone().requires_grad_(true);
    auto pred = net(x, t).pred;
    auto g = torch::autograd::grad({(pred * pred).sum()}, {x})[0];
    return std::make_pair(pred.detach(), g);
  };
  const auto [p32, g32] = run();
  net->set_precision(torch::kBFloat16);
  torch::Tensor p16, g16;
  try {
    std::tie(p16, g16) = run();
  } catch (const c10::Error& e) {  // the platform has bfloat16 (probed above): a real failure
    FAIL() << "the bfloat16 secondary model failed: " << e.what_without_backtrace();
  }
  EXPECT_EQ(p16.scalar_type(), torch::kFloat);
  EXPECT_EQ(g16.scalar_type(), torch::kFloat);
  const auto rel = [](const torch::Tensor& a, const torch::Tensor& b) { return ((a - b).norm() / b.norm()).item<double>(); };
  std::printf("bfloat16 vs float32 secondary model: pred %.3e, gradient %.3e relative\n", rel(p16, p32), rel(g16, g32));
  EXPECT_LT(rel(p16, p32), 3e-2);
  EXPECT_LT(rel(g16, g32), 3e-2);
  EXPECT_GT(rel(p16, p32), 0);  // it really ran in lower precision
  net->set_precision(torch::kFloat);  // back to float32 (the weights keep bfloat16's rounding)
  for (const auto& p : net->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
  EXPECT_THROW(net->set_precision(torch::kDouble), SettingsError);
}

}  // namespace
}  // namespace disco::diffusion
