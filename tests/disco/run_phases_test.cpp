// The run's phases on the tiny fixture models (CPU): inputs checked before any model, prompt
// targets per key, and make_image as the unit of the run (the same image as run() writes).
#include "disco/run_phases.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "common/error.h"
#include "io/image.h"
#include "support/tiny_run.h"

namespace disco::run_detail {
namespace {
using test::TinyRun;

TEST(RunPhases, InputsAreCheckedAndFollowPromptKeys) {
  TinyRun t;
  RunInputs in = resolve_inputs(t.settings, t.options);
  ASSERT_TRUE(in.settings.seed.has_value());
  EXPECT_EQ(*in.settings.seed, 7u);
  EXPECT_EQ(in.text_prompts.keys(), (std::vector<int64_t>{0, 3}));  // step keys: both sets

  t.settings.prompt_keys = PromptKeys::Frame;  // DD's frames: a still image is frame 0
  EXPECT_EQ(resolve_inputs(t.settings, t.options).text_prompts.keys(), (std::vector<int64_t>{0}));

  t.settings.init_image = "missing.png";
  t.options.input_dir = t.dir.string();
  EXPECT_THROW(resolve_inputs(t.settings, t.options), CheckpointError);
}

TEST(RunPhases, PromptTargetsStartAtTheirStepsWithinTheLoop) {
  TinyRun t;
  t.settings = merge_settings(t.settings, {{"text_prompts", {{"0", {"a:1"}}, {"3", {"b:1"}}, {"50", {"c:1"}}}}}, "test");
  const RunInputs in = resolve_inputs(t.settings, t.options);
  auto models = load_models(in.settings, t.options);
  Generators gen = seed_generators(7, torch::kCPU);
  const PromptTargets targets = build_prompt_targets(in, *models, /*loop_steps=*/7, gen);
  EXPECT_EQ(targets.starts, (std::vector<int64_t>{0, 3}));  // key 50 lies past the loop
  ASSERT_EQ(targets.guides.size(), 2u);
  EXPECT_EQ(targets.guides[0].size(), models->clip.size());
  EXPECT_EQ(targets.segment_at(2), 0u);
  EXPECT_EQ(targets.segment_at(3), 1u);
  EXPECT_EQ(targets.segment_at(6), 1u);
}

// The run's phases by hand, with make_image, give run()'s final image byte for byte.
TEST(RunPhases, MakeImageIsTheRunsImage) {
  TinyRun t;
  const RunResult r = run(t.settings, t.options);
  ASSERT_EQ(r.images.size(), 1u);

  RunInputs in = resolve_inputs(t.settings, t.options);
  auto models = load_models(in.settings, t.options);
  Generators gen = seed_generators(*in.settings.seed, torch::kCPU);
  const Settings& s = in.settings;
  const int64_t loop_steps = diffusion::first_index(diffusion::dd_schedule(s.steps), s.skip_steps) + 1;
  const PromptTargets targets = build_prompt_targets(in, *models, loop_steps, gen);
  GuidedDenoiser guided(s, *models, targets.guides.front(), /*cuts_per_pass=*/0, MemoryEstimate{});
  std::vector<int> steps;
  const auto image = make_image(guided, s, targets, ImageStart{torch::Tensor(), s.skip_steps, 0}, gen, {},
                                [&](int j, int total, const diffusion::StepOutput&) {
                                  EXPECT_EQ(total, loop_steps - 1);
                                  steps.push_back(j);
                                },
                                "image 0");
  EXPECT_EQ(steps.size(), static_cast<size_t>(loop_steps));
  const io::Image8 made = io::from_tensor(image.to(torch::kCPU));
  EXPECT_EQ(made.rgb, io::read_png(r.images[0]).rgb);
}

}  // namespace
}  // namespace disco::run_detail
