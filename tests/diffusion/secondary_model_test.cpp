// SecondaryDiffusionImageNet2: the cosine-time helpers and the v -> (pred, eps) algebra.
#include <gtest/gtest.h>

#include <cmath>
#include <utility>
#include <vector>

#include "common/error.h"
#include "diffusion/secondary_model.h"

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

}  // namespace
}  // namespace disco::diffusion
