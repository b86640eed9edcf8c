// The pre-flight memory estimate and the choice of cuts per CLIP pass for a budget (--max-vram).
#include <gtest/gtest.h>

#include "clip/clip_model.h"
#include "common/error.h"
#include "diffusion/unet_config.h"
#include "disco/execution.h"
#include "disco/memory_plan.h"
#include "disco/run.h"
#include "disco/run_internal.h"

namespace disco {
namespace {

LoadedModels small_models() {
  LoadedModels m;
  m.unet_config = diffusion::UNetConfig::from_model_config(
      {{"image_size", 32}, {"num_channels", 32}, {"num_res_blocks", 1}, {"channel_mult", "1,2"},
       {"attention_resolutions", "16"}, {"learn_sigma", true}, {"num_head_channels", 16}});
  m.unet = diffusion::UNetModel(m.unet_config);
  m.secondary = diffusion::SecondaryDiffusionImageNet2();
  // Small, but with 785 tokens a cut: its passes outweigh the cutouts' graph, as DD's models' do.
  m.clip.emplace_back("tiny", clip::CLIP(clip::CLIPConfig{32, 224, {2}, 256, 8, 77, 49408, 128, 2, 2, true}));
  return m;
}

TEST(MemoryPlan, DdDefaultsGiveSixtyFourCutsPerModelAndStep) {
  EXPECT_EQ(max_cuts_per_step(Settings{}), 64);  // 4 cutn batches x (12 + 4) cuts
}

TEST(MemoryPlan, EstimateGrowsWithPixelsAndCuts) {
  const LoadedModels m = small_models();
  Settings s;
  s.width = 512;
  s.height = 512;
  const auto small = estimate_memory(s, m, 0);
  s.width = 1024;
  const auto wide = estimate_memory(s, m, 0);
  EXPECT_GT(small.weights, 0);
  EXPECT_EQ(small.weights, wide.weights);
  EXPECT_GT(wide.sampler, small.sampler);
  EXPECT_GT(wide.guidance, small.guidance);
  EXPECT_EQ(small.cuts_per_pass, 64);
  EXPECT_EQ(estimate_memory(s, m, 8).cuts_per_pass, 8);
  EXPECT_GT(small.clip_per_cut, 0);
  s.width = s.height = 64;  // small enough for the CLIP passes to set the peak
  EXPECT_LT(estimate_memory(s, m, 8).peak(), estimate_memory(s, m, 32).peak());
  EXPECT_FALSE(small.measured);
  EXPECT_FALSE(measure_memory(s, const_cast<LoadedModels&>(m), 0).has_value());  // the CPU has no allocator stats
}

// The per-pixel model (used where the device reports no allocator statistics) reproduces the model
// phases it was calibrated to: the H200 run d of docs/performance.md, DD defaults at 1280x768.
TEST(MemoryPlan, ModelledPhasesMatchTheMeasuredH200Run) {
  LoadedModels m;
  m.device = torch::Device(torch::kCUDA, 0);  // only read, for the CUDA-only secondary checkpointing
  m.mixed = true;
  m.unet_config = diffusion::preset("512x512_diffusion_uncond_finetune_008100").config;  // weights not built
  Settings s;  // 1280x768, secondary model on, checkpointing on
  const double gib = 1024.0 * 1024.0 * 1024.0;
  const auto near = [&](int64_t bytes, double measured_gib) {
    EXPECT_NEAR(static_cast<double>(bytes) / gib, measured_gib, 0.1 * measured_gib);
  };
  const auto secondary = estimate_memory(s, m, 0);
  near(secondary.sampler, 2.73);   // the sampler's UNet forward
  near(secondary.backward, 2.87);  // x̂0's backward through the segment-checkpointed secondary model
  s.use_secondary_model = false;
  near(estimate_memory(s, m, 0).backward, 8.35);  // through the checkpointed UNet
}

TEST(MemoryPlan, BudgetPicksTheMostCutsThatFit) {
  const LoadedModels m = small_models();
  Settings s;
  s.width = s.height = 64;
  const MemoryEstimate base = estimate_memory(s, m, 0);
  EXPECT_EQ(plan_cuts_per_pass(s, base, base.peak() + 1), 0);  // everything fits: all cuts at once

  // Room for 20 cuts per pass: the plan takes 16, a whole cutn batch.
  const int64_t budget = std::max({base.weights + base.guidance + 20 * base.clip_per_cut, base.weights + base.sampler,
                                   base.weights + base.backward, base.weights + base.cutouts_backward});
  ASSERT_LT(budget, base.peak()) << "the CLIP passes must set the peak for this test";
  MemoryEstimate planned;
  const int64_t n = plan_cuts_per_pass(s, base, budget, &planned);
  EXPECT_EQ(n, 16);
  EXPECT_EQ(planned.cuts_per_pass, n);
  EXPECT_LE(planned.peak(), budget);
}

// The cutouts' backward pass (after a model's CLIP passes) is a phase of its own: it grows with the
// cuts, sets the peak when it is the largest, and the description names it.
TEST(MemoryPlan, CutoutsBackwardIsAPhaseOfItsOwn) {
  const LoadedModels m = small_models();
  Settings s;
  s.width = s.height = 64;
  const auto four = estimate_memory(s, m, 0);
  s.cutn_batches = 8;
  const auto eight = estimate_memory(s, m, 0);
  EXPECT_GT(four.cutouts_backward, four.guidance);  // its graph's peak is above what it holds
  EXPECT_GT(eight.cutouts_backward, four.cutouts_backward);
  MemoryEstimate e = four;
  e.cutouts_backward = e.peak();  // now above every other phase
  EXPECT_EQ(e.peak(), e.weights + e.cutouts_backward);
  EXPECT_NE(e.describe().find("cutouts' backward"), std::string::npos) << e.describe();
}

// Where the budget splits the CLIP passes, the plan gives the ViTs lean MLPs (fewer bytes a cut, so
// more cuts a pass); where all cuts fit, it takes them away again.
TEST(MemoryPlan, SplitClipPassesGetLeanMlps) {
  LoadedModels m = small_models();
  Settings s;
  s.width = s.height = 64;
  const MemoryEstimate base = estimate_memory(s, m, 0);
  const int64_t room = base.weights + base.guidance + 20 * base.clip_per_cut;  // 20 of 64 cuts
  RunOptions o;
  o.max_vram_gib = static_cast<double>(room) * 8 / 7 / (1024.0 * 1024.0 * 1024.0);  // the plan keeps 1/8 spare
  MemoryEstimate planned;
  const int64_t n = run_detail::plan_memory(s, m, o, Callbacks{}, &planned);
  EXPECT_TRUE(planned.lean_clip_mlp);
  EXPECT_FALSE(m.clip.front().second->lean_image_mlp());  // the plan is returned, not applied
  apply_execution(m, execution_for(s, o, planned));
  EXPECT_TRUE(m.clip.front().second->lean_image_mlp());
  EXPECT_LT(planned.clip_per_cut, base.clip_per_cut);
  EXPECT_GE(n, 16);
  EXPECT_NE(planned.describe().find("lean MLPs"), std::string::npos) << planned.describe();
  o.max_vram_gib = 1000;
  EXPECT_EQ(run_detail::plan_memory(s, m, o, Callbacks{}, &planned), 0);  // all cuts in one pass
  EXPECT_FALSE(planned.lean_clip_mlp);
  apply_execution(m, execution_for(s, o, planned));
  EXPECT_FALSE(m.clip.front().second->lean_image_mlp());
}

// --overlap-sampler: the sampler's UNet beside the guidance needs both phases at once, a CUDA
// stream, the secondary model, and no memory-saving mode the budget already needed.
TEST(MemoryPlan, OverlappedSamplerAddsItsPhaseToTheGuidance) {
  const LoadedModels m = small_models();
  Settings s;
  s.width = s.height = 64;
  const MemoryEstimate e = estimate_memory(s, m, 0);
  MemoryEstimate both = e;
  both.overlap_sampler = true;
  const int64_t guiding = std::max({e.guidance + e.clip_per_cut * e.cuts_per_pass, e.cutouts_backward, e.backward});
  EXPECT_EQ(both.peak(), e.weights + e.sampler + guiding);
  EXPECT_GT(both.peak(), e.peak());
  EXPECT_NE(both.describe().find("beside the guidance"), std::string::npos) << both.describe();

  const torch::Device cuda(torch::kCUDA, 0);  // only compared, never used
  EXPECT_EQ(overlap_refusal(s, e, cuda, 0), "");
  EXPECT_EQ(overlap_refusal(s, e, cuda, both.peak()), "");
  EXPECT_NE(overlap_refusal(s, e, cuda, both.peak() - 1).find("both at once need"), std::string::npos);
  EXPECT_NE(overlap_refusal(s, e, torch::kCPU, 0).find("CUDA"), std::string::npos);
  MemoryEstimate parked = e;
  parked.parked = 1;
  EXPECT_NE(overlap_refusal(s, parked, cuda, 0), "");
  s.use_secondary_model = false;
  EXPECT_NE(overlap_refusal(s, e, cuda, 0).find("secondary model"), std::string::npos);

  // On the CPU the plan says why it runs the two one after the other.
  s.use_secondary_model = true;
  LoadedModels cpu = small_models();
  RunOptions o;
  o.overlap_sampler = true;
  std::vector<std::string> logs;
  Callbacks cb;
  cb.on_log = [&](const std::string& line) { logs.push_back(line); };
  MemoryEstimate planned;
  run_detail::plan_memory(s, cpu, o, cb, &planned);
  EXPECT_FALSE(planned.overlap_sampler);
  ASSERT_FALSE(logs.empty());
  EXPECT_NE(logs.back().find("--overlap-sampler not used: only a CUDA device"), std::string::npos) << logs.back();
}

// CLIP models of one input resolution in a row may share a cutouts call: the estimate then holds
// that many models' cutouts graphs at once, in the CLIP passes and in the cutouts' backward pass.
TEST(MemoryPlan, SharedCutoutsHoldEveryModelsGraph) {
  LoadedModels m = small_models();
  EXPECT_EQ(largest_cut_group(m), 1);
  m.clip.emplace_back("tiny2", clip::CLIP(clip::CLIPConfig{32, 224, {2}, 64, 32, 77, 49408, 128, 2, 2, true}));
  m.clip.emplace_back("other", clip::CLIP(clip::CLIPConfig{32, 64, {2}, 64, 32, 77, 49408, 128, 2, 2, true}));
  m.clip.emplace_back("tiny3", clip::CLIP(clip::CLIPConfig{32, 224, {2}, 64, 32, 77, 49408, 128, 2, 2, true}));
  EXPECT_EQ(largest_cut_group(m), 2);  // 224, 224 | 64 | 224
  Settings s;
  s.width = s.height = 64;
  const MemoryEstimate one = estimate_memory(s, m, 0);
  EXPECT_GT(one.cutouts, 0);
  EXPECT_GE(one.cutouts_peak, one.cutouts);
  MemoryEstimate shared = one;
  shared.models_per_cut_call = 3;
  EXPECT_EQ(shared.peak() - one.weights,
            std::max({one.guidance + 2 * one.cutouts + one.clip_per_cut * one.cuts_per_pass,
                      one.cutouts_backward + 2 * one.cutouts_peak, one.backward}));
  EXPECT_GT(shared.peak(), one.peak());
  EXPECT_NE(shared.describe().find("cutouts for 3 models at once"), std::string::npos) << shared.describe();
  // The CPU plan keeps one call per model.
  MemoryEstimate planned;
  run_detail::plan_memory(s, m, RunOptions{}, Callbacks{}, &planned);
  EXPECT_EQ(planned.models_per_cut_call, 1);
}

TEST(MemoryPlan, NothingFitsSaysWhatToLower) {
  const LoadedModels m = small_models();
  Settings s;
  s.use_secondary_model = false;
  const MemoryEstimate base = estimate_memory(s, m, 0);
  try {
    plan_cuts_per_pass(s, base, base.weights / 2);
    FAIL() << "expected a RuntimeError";
  } catch (const RuntimeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("width_height"), std::string::npos) << what;
    EXPECT_NE(what.find("use_secondary_model"), std::string::npos) << what;
    EXPECT_NE(what.find("budget"), std::string::npos) << what;
  }
}

// Under a tight budget the image encoders leave the device during the sampler's UNet forward.
// Parked, they hold no data (a ResNet's folded weights neither); restored, they give the
// same embeddings, bit for bit.
TEST(ImageEncoderParking, ParkedEncodersComeBackIdentical) {
  LoadedModels m = small_models();
  torch::manual_seed(3);
  clip::CLIP rn(clip::CLIPConfig{32, 64, {1, 2, 1, 1}, 8, 0, 77, 49408, 64, 1, 1, false});
  rn->eval();
  m.clip.emplace_back("rn", rn);
  m.fast = true;
  rn->fold_batchnorm(true);
  auto vit = m.clip.front().second;
  torch::NoGradGuard no_grad;
  const auto square = [](const clip::CLIP& c) {
    const int64_t r = c->config().image_resolution;
    return torch::randn({2, 3, r, r});
  };
  const auto rn_image = square(rn), vit_image = square(vit);
  const auto rn_before = rn->encode_image(rn_image), vit_before = vit->encode_image(vit_image);
  {
    run_detail::ImageEncoderParking parking(m);
    parking.park();
    EXPECT_EQ(rn->resnet->conv1->weight.numel(), 0);
    EXPECT_EQ(vit->vit->conv1->weight.numel(), 0);
    EXPECT_FALSE(rn->resnet->folded_tensors().empty());
    for (const auto& f : rn->resnet->folded_tensors()) EXPECT_EQ(f.numel(), 0);
    EXPECT_GT(rn->transformer->parameters().front().numel(), 0);  // the text encoder stays
    parking.restore();
    EXPECT_TRUE(rn->resnet->batchnorm_folded());
    EXPECT_TRUE(torch::equal(rn->encode_image(rn_image), rn_before));
    EXPECT_TRUE(torch::equal(vit->encode_image(vit_image), vit_before));
    parking.park();  // left parked: the destructor brings them back
  }
  EXPECT_TRUE(torch::equal(rn->encode_image(rn_image), rn_before));
  EXPECT_EQ(run_detail::ImageEncoderParking::parkable_bytes(m), 0);  // planned on CUDA only
}

// --precision: "fast" is mixed plus the secondary model in the mixed dtype (bfloat16 on the CPU)
// and folded BatchNorms; turning it off restores DD's split.
TEST(Precision, FastIsMixedPlusHalfSecondaryAndFoldedBatchNorm) {
  const torch::Device cpu(torch::kCPU);
  EXPECT_FALSE(run_detail::resolve_mixed("auto", cpu));
  EXPECT_TRUE(run_detail::resolve_mixed("mixed", cpu));
  EXPECT_TRUE(run_detail::resolve_mixed("fast", cpu));
  EXPECT_FALSE(run_detail::resolve_mixed("fp32", cpu));
  EXPECT_THROW(run_detail::resolve_mixed("half", cpu), SettingsError);

  LoadedModels m = small_models();
  clip::CLIP rn(clip::CLIPConfig{32, 64, {1, 2, 1, 1}, 8, 0, 77, 49408, 64, 1, 1, false});
  rn->eval();
  m.clip.emplace_back("rn", rn);
  m.secondary->eval();
  m.mixed = true;
  run_detail::set_fast(m, true);
  EXPECT_TRUE(m.fast);
  EXPECT_TRUE(rn->resnet->batchnorm_folded());
  for (const auto& p : m.secondary->named_parameters()) {
    if (p.key().rfind("net.", 0) == 0) {
      EXPECT_EQ(p.value().scalar_type(), torch::kBFloat16) << p.key();
    }
  }
  run_detail::set_fast(m, false);
  EXPECT_FALSE(rn->resnet->batchnorm_folded());
  for (const auto& p : m.secondary->parameters()) EXPECT_EQ(p.scalar_type(), torch::kFloat);
  m.mixed = false;  // fast needs the mixed split: on an fp32 model it does nothing
  run_detail::set_fast(m, true);
  EXPECT_FALSE(m.fast);
  EXPECT_FALSE(rn->resnet->batchnorm_folded());
}

}  // namespace
}  // namespace disco
