// cond_fn's CLIP passes: however many cuts each pass takes (cuts_per_pass), the gradient, the
// per-batch losses and the random draws are those of DD's one-pass-per-cutn-batch loop.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "clip/clip_model.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "guidance/augmentations.h"
#include "guidance/cond_fn.h"

namespace dd = disco::diffusion;
namespace dg = disco::guidance;
namespace dc = disco::clip;

namespace {

torch::Tensor stand_in(const torch::Tensor& x, const torch::Tensor&) {
  return torch::cat({x * 0.3f, torch::zeros_like(x)}, 1);
}

dg::ClipGuide tiny_guide(bool vit, uint64_t seed) {
  torch::manual_seed(seed);
  const dc::CLIPConfig config = vit ? dc::CLIPConfig{32, 32, {2}, 128, 8, 77, 49408, 128, 2, 2, true}
                                    : dc::CLIPConfig{32, 32, {1, 1, 1, 1}, 32, 0, 77, 49408, 128, 2, 2, false};
  dc::CLIP model(config);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  dg::ClipGuide g;
  g.model = model;
  g.cut_size = 32;
  const auto t = torch::randn({2, 32});
  g.target_embeds = t / t.norm(2, -1, true);
  g.weights = torch::tensor({0.75f, -0.25f});
  return g;
}

struct Result {
  torch::Tensor grad;
  std::vector<float> losses;
};

Result run(int64_t cuts_per_pass, bool skip_augs) {
  const auto schedule = dd::dd_schedule(50);
  dg::CondFnModels m;
  m.schedule = &schedule;
  m.use_secondary_model = false;
  m.network = stand_in;
  m.clip = {tiny_guide(true, 1), tiny_guide(false, 2)};
  dg::CondFnSettings s;
  s.cutn_batches = 3;
  s.cuts_per_pass = cuts_per_pass;
  s.skip_augs = skip_augs;
  s.cuts = dg::CutSchedules::constant(2, 3, 1.0, 0.2);  // 5 cuts per batch, 15 per model
  const dg::CondFn cond(m, s);
  auto cpu = dg::make_cpu_generator(7);
  auto gen = dg::make_cpu_generator(7);
  auto x = torch::randn({1, 3, 40, 56}, gen);
  const int64_t k = 20;
  dg::CondFnDiagnostics d;
  torch::NoGradGuard no_grad;
  Result r;
  r.grad = cond(x, dd::t_model_tensor(schedule, k, x), k, cpu, cpu, &d);
  r.losses = d.loss_values;
  return r;
}

}  // namespace

TEST(CondFnBatching, CutsPerPassChangesNeitherGradientNorLosses) {
  for (bool skip_augs : {true, false}) {
    const Result all = run(0, skip_augs);
    ASSERT_EQ(all.losses.size(), 6u);  // 2 models x 3 cutn batches
    EXPECT_GT(all.grad.abs().max().item<float>(), 0);
    for (int64_t per_pass : {1, 4, 5, 15, 100}) {
      const Result r = run(per_pass, skip_augs);
      const float scale = all.grad.abs().max().item<float>();
      EXPECT_LT((r.grad - all.grad).abs().max().item<float>(), 1e-5f * scale)
          << "cuts_per_pass " << per_pass << " skip_augs " << skip_augs;
      ASSERT_EQ(r.losses.size(), all.losses.size());
      for (size_t i = 0; i < r.losses.size(); ++i) EXPECT_NEAR(r.losses[i], all.losses[i], 1e-6) << i;
    }
  }
}
