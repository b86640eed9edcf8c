// cond_fn's CLIP passes: however many cuts each pass takes (cuts_per_pass), the gradient, the
// per-batch losses and the random draws are those of DD's one-pass-per-cutn-batch loop.
#include <string>
#include <vector>

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

torch::Tensor stand_in_unet(const torch::Tensor& x, const torch::Tensor&) {
  return torch::cat({x * 0.3f, torch::zeros_like(x)}, 1);
}

dg::ClipGuide tiny_guide(bool vit, uint64_t seed, int64_t side = 32) {
  torch::manual_seed(seed);
  const dc::CLIPConfig config = vit ? dc::CLIPConfig{32, side, {2}, 128, 8, 77, 49408, 128, 2, 2, true}
                                    : dc::CLIPConfig{32, side, {1, 1, 1, 1}, 32, 0, 77, 49408, 128, 2, 2, false};
  dc::CLIP model(config);
  model->eval();
  for (auto& p : model->parameters()) p.set_requires_grad(false);
  dg::ClipGuide g;
  g.model = model;
  g.cut_size = side;
  const auto t = torch::randn({2, 32});
  g.target_embeds = t / t.norm(2, -1, true);
  g.weights = torch::tensor({0.75f, -0.25f});
  return g;
}

struct Result {
  torch::Tensor grad;
  std::vector<float> losses;
  float next_draw = 0;  // the CPU generator's next number after the call: the draws were the same
};

Result run(int64_t cuts_per_pass, bool skip_augs, std::vector<dg::ClipGuide> guides = {},
           bool across_models = false, dg::BlockBatching blocks = dg::BlockBatching::Auto) {
  const auto schedule = dd::dd_schedule(50);
  dg::CondFnModels m;
  m.schedule = &schedule;
  m.use_secondary_model = false;
  m.network = stand_in_unet;
  m.clip = guides.empty() ? std::vector<dg::ClipGuide>{tiny_guide(true, 1), tiny_guide(false, 2)} : guides;
  dg::CondFnSettings s;
  s.cutn_batches = 3;
  s.cuts_per_pass = cuts_per_pass;
  s.cutouts_across_models = across_models;
  s.skip_augs = skip_augs;
  s.cutouts_execution.blocks = blocks;
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
  r.next_draw = torch::rand({1}, cpu).item<float>();
  return r;
}

void expect_same(const Result& r, const Result& want, const std::string& what) {
  const float scale = want.grad.abs().max().item<float>();
  EXPECT_GT(scale, 0) << what;
  EXPECT_LT((r.grad - want.grad).abs().max().item<float>(), 1e-5f * scale) << what;
  ASSERT_EQ(r.losses.size(), want.losses.size()) << what;
  for (size_t i = 0; i < r.losses.size(); ++i) EXPECT_NEAR(r.losses[i], want.losses[i], 1e-6) << what << " loss " << i;
  EXPECT_EQ(r.next_draw, want.next_draw) << what;
}

}  // namespace

TEST(CondFnBatching, CutsPerPassChangesNeitherGradientNorLosses) {
  for (bool skip_augs : {true, false}) {
    const Result all = run(0, skip_augs);
    ASSERT_EQ(all.losses.size(), 6u);  // 2 models x 3 cutn batches
    for (int64_t per_pass : {1, 4, 5, 15, 100})
      expect_same(run(per_pass, skip_augs), all,
                  "cuts_per_pass " + std::to_string(per_pass) + " skip_augs " + std::to_string(skip_augs));
  }
}

TEST(CondFnBatching, CutoutsCallsGroupConsecutiveModelsOfOneCutSize) {
  std::vector<dg::ClipGuide> guides(4);
  for (size_t i = 0; i < guides.size(); ++i) guides[i].cut_size = i == 2 ? 24 : 32;  // 32, 32, 24, 32
  using Calls = std::vector<std::pair<size_t, size_t>>;
  EXPECT_EQ(dg::cutouts_calls(guides, true), (Calls{{0, 2}, {2, 3}, {3, 4}}));
  EXPECT_EQ(dg::cutouts_calls(guides, false), (Calls{{0, 1}, {1, 2}, {2, 3}, {3, 4}}));
  EXPECT_TRUE(dg::cutouts_calls(std::vector<dg::ClipGuide>{}, true).empty());
  // The memory plan's form, over the input resolutions alone.
  EXPECT_EQ(dg::cutouts_calls(std::vector<int64_t>{224, 224, 288, 224}, true), (Calls{{0, 2}, {2, 3}, {3, 4}}));
  EXPECT_EQ(dg::cutouts_calls(std::vector<int64_t>{224, 224}, false), (Calls{{0, 1}, {1, 2}}));
}

// Models of one input resolution next to each other may share one cutouts call: the same draws in
// the same order, so the same cuts, losses and gradient (up to float rounding), however the
// augmentations batch and however many cuts a CLIP pass takes. A model of another resolution in
// between keeps its own call, where DD draws for it.
TEST(CondFnBatching, CutoutsAcrossModelsChangeNeitherGradientNorLosses) {
  const std::vector<std::vector<dg::ClipGuide>> setups = {
      {tiny_guide(true, 1), tiny_guide(false, 2)},                        // one group of two
      {tiny_guide(true, 1), tiny_guide(false, 2), tiny_guide(true, 3, 24)},  // two, then one of 24 px
      {tiny_guide(true, 1), tiny_guide(true, 3, 24), tiny_guide(false, 2)},  // three groups of one
  };
  for (size_t i = 0; i < setups.size(); ++i)
    for (bool skip_augs : {true, false})
      for (auto how : {dg::BlockBatching::Together, dg::BlockBatching::OneByOne}) {
        const Result per_model = run(0, skip_augs, setups[i], /*across_models=*/false, how);
        ASSERT_EQ(per_model.losses.size(), 3 * setups[i].size());
        for (int64_t per_pass : {0, 4})
          expect_same(run(per_pass, skip_augs, setups[i], /*across_models=*/true, how), per_model,
                      "setup " + std::to_string(i) + " skip_augs " + std::to_string(skip_augs) + " together " +
                          std::to_string(how == dg::BlockBatching::Together) + " per_pass " + std::to_string(per_pass));
      }
}
