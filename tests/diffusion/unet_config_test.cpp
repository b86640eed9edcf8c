// UNetConfig: DD model_config parsing, presets, the shape enumerator against built modules,
// preset detection and architecture inference on small networks.
#include <gtest/gtest.h>

#include "common/error.h"
#include "diffusion/unet.h"
#include "diffusion/unet_config.h"
#include "io/state_dict.h"
#include "spec_keys.h"
#include "support/fixtures.h"

namespace disco::diffusion {
namespace {

// Shapes only: expanded scalars stand in for real-size tensors without allocating them.
io::TensorMap fake_state_dict(const UNetConfig& c) {
  io::TensorMap sd;
  for (const auto& [name, shape] : c.state_dict_shapes()) sd.insert(name, torch::zeros({1}).expand(shape));
  return sd;
}

// Small configurations covering each architectural switch.
std::vector<nlohmann::json> small_configs() {
  nlohmann::json base = {{"image_size", 32}, {"num_channels", 32}, {"num_res_blocks", 1},
                         {"channel_mult", "1,2"}, {"attention_resolutions", "16"}, {"learn_sigma", true},
                         {"num_head_channels", 16}, {"resblock_updown", true}, {"use_scale_shift_norm", true}};
  std::vector<nlohmann::json> v = {base};
  auto b = base;
  b["resblock_updown"] = false;
  b["use_scale_shift_norm"] = false;
  b["num_head_channels"] = -1;
  b["num_heads"] = 2;
  b["channel_mult"] = "1,2,2";
  b["attention_resolutions"] = "16,8";
  v.push_back(b);
  auto c = base;
  c["num_res_blocks"] = 2;
  c["learn_sigma"] = false;
  c["use_new_attention_order"] = true;
  c["attention_resolutions"] = "32";  // full resolution (ds 1)
  v.push_back(c);
  auto d = b;
  d["channel_mult"] = "1";  // one level: no resampling at all
  d["attention_resolutions"] = "";
  v.push_back(d);
  return v;
}

TEST(UNetConfig, ParsesDDModelConfigAndDerivesDefaults) {
  auto c = UNetConfig::from_model_config({{"attention_resolutions", "32, 16, 8"}, {"image_size", 512},
                                          {"num_channels", 256}, {"channel_mult", ""},
                                          {"diffusion_steps", 1000}, {"timestep_respacing", "ddim250"}});
  EXPECT_EQ(c.attention_ds, (std::vector<int64_t>{16, 32, 64}));
  EXPECT_EQ(c.channel_mult, (std::vector<double>{0.5, 1, 1, 2, 2, 4, 4}));
  EXPECT_EQ(c.level_channels(), (std::vector<int64_t>{128, 256, 256, 512, 512, 1024, 1024}));
  EXPECT_EQ(default_channel_mult(128), (std::vector<double>{1, 1, 2, 3, 4}));
  EXPECT_EQ(default_channel_mult(64), (std::vector<double>{1, 2, 3, 4}));
  auto s = UNetConfig::from_model_config({{"image_size", 32}, {"channel_mult", "1, 1"}, {"num_channels", 32}});
  EXPECT_EQ(s.channel_mult, (std::vector<double>{1, 1}));
  EXPECT_EQ(s.attention_ds, (std::vector<int64_t>{2, 4}));  // default "16,8" at image_size 32
}

TEST(UNetConfig, RejectsClassCondUnknownKeysAndBadValues) {
  auto message = [](const nlohmann::json& j) {
    try {
      UNetConfig::from_model_config(j);
    } catch (const SettingsError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{"class_cond", true}}).find("class_cond"), std::string::npos);
  EXPECT_NE(message({{"num_chanels", 64}}).find("'num_chanels'"), std::string::npos);
  EXPECT_NE(message({{"num_channels", "many"}}).find("'num_channels' must be an integer"), std::string::npos);
  EXPECT_NE(message({{"image_size", 100}}).find("image_size 512, 256, 128 and 64"), std::string::npos);
  EXPECT_NE(message({{"attention_resolutions", "16,x"}}).find("'x'"), std::string::npos);
  auto c = UNetConfig::from_model_config({{"num_heads", 3}, {"image_size", 64}, {"num_channels", 64}});
  EXPECT_THROW(UNetModel{c}, SettingsError);  // 64 channels in 3 heads
}

TEST(UNetConfig, PresetsFollowDDSpec) {
  const auto& p512 = preset("512x512_diffusion_uncond_finetune_008100").config;
  EXPECT_EQ(p512.num_head_channels, 64);
  EXPECT_EQ(p512.heads_for(1024, true), 16);
  const auto& portrait = preset("portrait_generator_v001").config;
  EXPECT_EQ(portrait.num_channels, 128);
  EXPECT_EQ(portrait.heads_for(512, false), 4);
  const auto& pixel = preset("pixel_art_diffusion_hard_256").config;
  EXPECT_FALSE(pixel.resblock_updown);
  EXPECT_FALSE(pixel.use_scale_shift_norm);
  EXPECT_EQ(pixel.attention_ds, (std::vector<int64_t>{16}));
  EXPECT_EQ(pixel.heads_for(512, true), 1);
  EXPECT_THROW(preset("no_such_model"), SettingsError);
}

TEST(UNetConfig, ShapeEnumeratorMatchesBuiltModules) {
  for (const auto& j : small_configs()) {
    SCOPED_TRACE(j.dump());
    auto c = UNetConfig::from_model_config(j);
    UNetModel model(c);
    std::vector<test::KeyRow> enumerated;
    for (const auto& [name, shape] : c.state_dict_shapes())
      enumerated.push_back({name, test::shape_text(shape), "float32"});
    test::expect_same_rows(test::module_key_rows(*model), enumerated);
  }
}

TEST(UNetConfig, InferArchitectureRoundTripsEverythingButHeads) {
  for (const auto& j : small_configs()) {
    SCOPED_TRACE(j.dump());
    auto c = UNetConfig::from_model_config(j);
    UNetModel model(c);
    auto sd = test::parameters_of(*model);
    auto inferred = infer_architecture(sd);
    EXPECT_EQ(inferred.num_channels, c.num_channels);
    EXPECT_EQ(inferred.channel_mult, c.channel_mult);
    EXPECT_EQ(inferred.num_res_blocks, c.num_res_blocks);
    EXPECT_EQ(inferred.attention_ds, c.attention_ds);
    EXPECT_EQ(inferred.use_scale_shift_norm, c.use_scale_shift_norm);
    if (c.channel_mult.size() > 1) {
      EXPECT_EQ(inferred.resblock_updown, c.resblock_updown);
    }
    EXPECT_EQ(inferred.learn_sigma, c.learn_sigma);
    EXPECT_EQ(inferred.num_heads, 0);
    EXPECT_THROW(UNetModel{inferred}, SettingsError);  // heads unknown: a clear error, not a guess
    try {
      infer_from_state_dict(sd);
      ADD_FAILURE() << "a non-preset state dict was accepted without head counts";
    } catch (const ModelMismatchError& e) {
      EXPECT_NE(std::string(e.what()).find("--model-config"), std::string::npos) << e.what();
    }
  }
}

TEST(UNetConfig, DetectsEveryPresetFamilyFromShapes) {
  for (const auto& p : presets()) {
    SCOPED_TRACE(p.name);
    auto sd = fake_state_dict(p.config);
    auto match = detect_preset(sd);
    ASSERT_TRUE(match.has_value());
    // Same architecture, same head counts: the first of the family stands for all of it.
    EXPECT_EQ(match->config.state_dict_shapes(), p.config.state_dict_shapes());
    EXPECT_EQ(match->config.num_heads, p.config.num_heads);
    EXPECT_EQ(match->config.num_head_channels, p.config.num_head_channels);
    EXPECT_NE(std::find(match->same_architecture.begin(), match->same_architecture.end(), p.name),
              match->same_architecture.end());
    auto inferred = infer_architecture(sd);
    EXPECT_EQ(inferred.state_dict_shapes(), p.config.state_dict_shapes());
  }
  auto kali = detect_preset(fake_state_dict(preset("watercolordiffusion").config));
  ASSERT_TRUE(kali.has_value());
  EXPECT_EQ(kali->name, "pixel_art_diffusion_hard_256");
  EXPECT_GE(kali->same_architecture.size(), 6u);
}

TEST(UNetConfig, LoadStateDictNamesMisshapedKey) {
  auto c = UNetConfig::from_model_config(small_configs()[0]);
  UNetModel model(c);
  auto sd = test::parameters_of(*model);
  sd["input_blocks.1.0.emb_layers.1.weight"] = torch::zeros({32, 128});
  try {
    io::load_state_dict(*model, sd, "small.pt");
    ADD_FAILURE() << "misshaped tensor accepted";
  } catch (const ModelMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("input_blocks.1.0.emb_layers.1.weight"), std::string::npos) << e.what();
  }
  EXPECT_THROW(infer_architecture(sd), ModelMismatchError);
}

}  // namespace
}  // namespace disco::diffusion
