// The execution levers: what execution_for takes from the settings, options and plan, and that
// apply_execution reaches every model.
#include "disco/execution.h"

#include <gtest/gtest.h>

#include "disco/run_internal.h"

namespace disco {
namespace {

LoadedModels tiny_models() {
  LoadedModels m;
  m.unet_config = diffusion::UNetConfig::from_model_config(
      {{"image_size", 32}, {"num_channels", 32}, {"num_res_blocks", 1}, {"channel_mult", "1,2"},
       {"attention_resolutions", "16"}, {"learn_sigma", true}, {"num_head_channels", 16}});
  m.unet = diffusion::UNetModel(m.unet_config);
  m.clip.emplace_back("tiny", clip::CLIP(clip::CLIPConfig{32, 32, {2}, 128, 8, 77, 49408, 128, 2, 2, true}));
  return m;
}

TEST(Execution, ComesFromTheSettingsTheOptionsAndThePlan) {
  Settings s;
  s.use_checkpoint = false;
  RunOptions o;
  o.channels_last = true;
  o.fused_attention = false;
  MemoryEstimate plan;
  plan.offload_skips = plan.lean_clip_mlp = true;
  const Execution e = execution_for(s, o, plan);
  EXPECT_FALSE(e.gradient_checkpointing);
  EXPECT_TRUE(e.channels_last);
  EXPECT_FALSE(e.fused_attention);
  EXPECT_TRUE(e.offload_skips);
  EXPECT_TRUE(e.lean_clip_mlp);
  EXPECT_FALSE(e.lean_graph);
  EXPECT_FALSE(e.offload_checkpoints);
}

TEST(Execution, ApplyReachesEveryModel) {
  LoadedModels m = tiny_models();
  Execution e;
  e.offload_skips = e.lean_graph = e.lean_clip_mlp = true;
  e.offload_checkpoints = true;
  apply_execution(m, e);
  EXPECT_TRUE(m.unet->offload_skips());
  EXPECT_TRUE(m.unet->lean_graph());
  EXPECT_TRUE(m.unet->checkpoint_offload());
  EXPECT_TRUE(m.clip.front().second->lean_image_mlp());
  apply_execution(m, Execution{});
  EXPECT_FALSE(m.unet->offload_skips());
  EXPECT_FALSE(m.unet->lean_graph());
  EXPECT_FALSE(m.unet->checkpoint_offload());
  EXPECT_FALSE(m.clip.front().second->lean_image_mlp());
}

}  // namespace
}  // namespace disco
