// Real-size networks against models-spec-keys.txt: names, shapes, dtypes in order, parameter
// counts, preset detection and architecture inference on their (random) state dicts.
// Each real UNet allocates ~2.2 GB, so each test builds one and frees it at the end.
#include <gtest/gtest.h>

#include "common/error.h"
#include "diffusion/secondary_model.h"
#include "diffusion/unet.h"
#include "diffusion/unet_config.h"
#include "spec_keys.h"
#include "support/fixtures.h"

namespace disco::diffusion {
namespace {

std::vector<test::KeyRow> enumerated_rows(const UNetConfig& c) {
  std::vector<test::KeyRow> rows;
  for (const auto& [name, shape] : c.state_dict_shapes()) rows.push_back({name, test::shape_text(shape), "float32"});
  return rows;
}

void check_real_unet(const std::string& preset_name, const std::string& heading, int64_t n_params) {
  const UNetConfig& config = preset(preset_name).config;
  UNetModel model(config);
  const auto want = test::spec_key_section(heading);
  SCOPED_TRACE(preset_name);
  test::expect_same_rows(test::module_key_rows(*model), want);
  test::expect_same_rows(enumerated_rows(config), want);
  EXPECT_EQ(test::parameter_count(*model), n_params);
  EXPECT_TRUE(model->named_buffers(true).is_empty());

  const auto sd = test::parameters_of(*model);
  auto match = detect_preset(sd);
  ASSERT_TRUE(match.has_value());
  EXPECT_EQ(match->name, preset_name);
  EXPECT_EQ(match->same_architecture, std::vector<std::string>{preset_name});

  UNetConfig inferred = infer_architecture(sd);
  EXPECT_EQ(inferred.num_channels, config.num_channels);
  EXPECT_EQ(inferred.channel_mult, default_channel_mult(config.image_size));
  EXPECT_EQ(inferred.num_res_blocks, 2);
  EXPECT_EQ(inferred.attention_ds, config.attention_ds);
  EXPECT_EQ(inferred.image_size, config.image_size);
  EXPECT_EQ(inferred.attention_resolutions, "32, 16, 8");
  EXPECT_TRUE(inferred.use_scale_shift_norm);
  EXPECT_TRUE(inferred.resblock_updown);
  EXPECT_TRUE(inferred.learn_sigma);
  EXPECT_EQ(infer_from_state_dict(sd).num_head_channels, 64);
}

TEST(UNetKeys, Real512ModelMatchesSpecKeysCountAndIsDetected) {
  check_real_unet("512x512_diffusion_uncond_finetune_008100", "## UNet 512", 557973638);
}

TEST(UNetKeys, Real256ModelMatchesSpecKeysCountAndIsDetected) {
  check_real_unet("256x256_diffusion_uncond", "## UNet 256", 552814086);
}

TEST(UNetKeys, MismatchedRealStateDictNamesTheKey) {
  // Shapes only (expanded scalars): no 2.2 GB allocation needed to test the messages.
  const UNetConfig& config = preset("256x256_diffusion_uncond").config;
  io::TensorMap sd;
  for (const auto& [name, shape] : config.state_dict_shapes()) sd.insert(name, torch::zeros({1}).expand(shape));
  EXPECT_NO_THROW(check_state_dict(config, sd, "x.pt"));

  io::TensorMap missing;
  for (const auto& kv : sd)
    if (kv.key() != "middle_block.1.qkv.weight") missing.insert(kv.key(), kv.value());
  try {
    check_state_dict(config, missing, "x.pt");
    ADD_FAILURE() << "no error for a missing key";
  } catch (const ModelMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("'middle_block.1.qkv.weight'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("x.pt"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(detect_preset(missing).has_value());

  io::TensorMap misshaped = sd;
  misshaped["out.2.weight"] = torch::zeros({1}).expand({6, 128, 3, 3});
  try {
    check_state_dict(config, misshaped, "x.pt");
    ADD_FAILURE() << "no error for a misshaped key";
  } catch (const ModelMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("'out.2.weight' has shape [6, 128, 3, 3], expected [6, 256, 3, 3]"),
              std::string::npos)
        << e.what();
  }
}

TEST(SecondaryKeys, ModelMatchesSpecKeysAndCount) {
  SecondaryDiffusionImageNet2 model;
  test::expect_same_rows(test::module_key_rows(*model), test::spec_key_section("## Secondary model"));
  EXPECT_EQ(test::parameter_count(*model), 13841547);
}

}  // namespace
}  // namespace disco::diffusion
