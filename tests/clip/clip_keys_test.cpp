// Real-size CLIP architectures against models-spec-keys.txt, parameter counts (models-spec §3.2),
// and CLIPConfig::from_state_dict / identify for the nine OpenAI models.
#include <fstream>
#include <map>

#include <gtest/gtest.h>

#include "clip/clip_model.h"
#include "clip_test_util.h"
#include "common/error.h"
#include "support/fixtures.h"
#include "support/spec_keys.h"

namespace disco::clip {
namespace {
using test::python_dtype;
using test::shape_text;

// The "## CLIP <model>:" section of models-spec-keys.txt.
std::vector<test::SpecKey> spec_keys(const std::string& model) { return test::spec_key_section("## CLIP " + model + ":"); }

const CLIPConfig& config_of(const std::string& name) {
  for (const auto& m : known_models())
    if (m.name == name) return m.config;
  throw std::runtime_error("no known model " + name);
}

// Key names, shapes and dtypes of `sd` against the spec list, in order. `dtype_of` maps the
// spec's dtype to the one expected here.
void expect_keys(const io::TensorMap& sd, const std::vector<test::SpecKey>& spec, bool compare_spec_dtypes) {
  ASSERT_EQ(sd.size(), spec.size());
  size_t i = 0;
  for (const auto& item : sd) {
    const auto& want = spec[i++];
    ASSERT_EQ(item.key(), want.name) << "key #" << i - 1;
    EXPECT_EQ(shape_text(item.value().sizes()), want.shape) << item.key();
    // The float32 model holds every float tensor in float32; only the BatchNorm counters are int64.
    std::string dtype = compare_spec_dtypes ? want.dtype : (want.dtype == "int64" ? "int64" : "float32");
    EXPECT_EQ(python_dtype(item.value().scalar_type()), dtype) << item.key();
  }
}

std::vector<std::pair<std::string, std::vector<int64_t>>> layout(const CLIPConfig& c);

struct Counts {
  int64_t params = 0, running_stats = 0, counters = 0;
};
Counts count(const torch::nn::Module& m) {
  Counts c;
  for (const auto& p : m.named_parameters()) c.params += p.value().numel();
  for (const auto& b : m.named_buffers())
    (b.value().scalar_type() == torch::kLong ? c.counters : c.running_stats) += b.value().numel();
  return c;
}

// Dtypes: the key file lists what the OpenAI files store (CLIP's convert_weights pattern). The
// float32 model (DD on CPU) is compared with float32 everywhere; after convert_weights(kHalf)
// (DD on CUDA) it must reproduce the file's dtypes exactly.
void check_model(const std::string& name, int64_t params, int64_t running_stats, int64_t counters) {
  torch::NoGradGuard no_grad;
  CLIP model(config_of(name));
  auto spec = spec_keys(name);
  expect_keys(ordered_state_dict(*model), spec, /*compare_spec_dtypes=*/false);
  auto c = count(*model);
  EXPECT_EQ(c.params, params);
  EXPECT_EQ(c.running_stats, running_stats);
  EXPECT_EQ(c.counters, counters);
  model->convert_weights(torch::kHalf);
  expect_keys(ordered_state_dict(*model), spec, /*compare_spec_dtypes=*/true);

  // The restatement used for the nine-model round trip agrees with the spec list too.
  auto want = layout(config_of(name));
  ASSERT_EQ(want.size(), spec.size());
  for (size_t i = 0; i < spec.size(); ++i) {
    EXPECT_EQ(want[i].first, spec[i].name);
    EXPECT_EQ(shape_text(want[i].second), spec[i].shape) << spec[i].name;
  }
}

TEST(CLIPKeys, ViTB32MatchesSpecKeysInOrder) { check_model("ViT-B/32", 151277313, 0, 0); }
TEST(CLIPKeys, ViTB16MatchesSpecKeysInOrder) { check_model("ViT-B/16", 149620737, 0, 0); }
TEST(CLIPKeys, RN50MatchesSpecKeysInOrder) { check_model("RN50", 102007137, 53248, 55); }

// An independent restatement of the state-dict layout (models-spec §3.4–3.6), checked against
// the real modules below, so that the nine configurations (up to RN50x64, 623M parameters) can
// be round-tripped through from_state_dict without allocating them.
std::vector<std::pair<std::string, std::vector<int64_t>>> layout(const CLIPConfig& c) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  auto add = [&](const std::string& k, std::vector<int64_t> s) { out.emplace_back(k, std::move(s)); };
  auto ln = [&](const std::string& p, int64_t w) {
    add(p + ".weight", {w});
    add(p + ".bias", {w});
  };
  auto bn = [&](const std::string& p, int64_t w) {
    for (const char* t : {"weight", "bias", "running_mean", "running_var"}) add(p + "." + t, {w});
    add(p + ".num_batches_tracked", {});
  };
  auto blocks = [&](const std::string& p, int64_t w, int64_t layers) {
    for (int64_t i = 0; i < layers; ++i) {
      const std::string b = p + ".resblocks." + std::to_string(i) + ".";
      add(b + "attn.in_proj_weight", {3 * w, w});
      add(b + "attn.in_proj_bias", {3 * w});
      add(b + "attn.out_proj.weight", {w, w});
      add(b + "attn.out_proj.bias", {w});
      ln(b + "ln_1", w);
      add(b + "mlp.c_fc.weight", {4 * w, w});
      add(b + "mlp.c_fc.bias", {4 * w});
      add(b + "mlp.c_proj.weight", {w, 4 * w});
      add(b + "mlp.c_proj.bias", {w});
      ln(b + "ln_2", w);
    }
  };
  const int64_t tw = c.transformer_width, vw = c.vision_width;
  add("positional_embedding", {c.context_length, tw});
  add("text_projection", {tw, c.embed_dim});
  add("logit_scale", {});
  if (c.is_vit) {
    const int64_t grid = c.image_resolution / c.vision_patch_size;
    add("visual.class_embedding", {vw});
    add("visual.positional_embedding", {grid * grid + 1, vw});
    add("visual.proj", {vw, c.embed_dim});
    add("visual.conv1.weight", {vw, 3, c.vision_patch_size, c.vision_patch_size});
    ln("visual.ln_pre", vw);
    blocks("visual.transformer", vw, c.vision_layers[0]);
    ln("visual.ln_post", vw);
  } else {
    add("visual.conv1.weight", {vw / 2, 3, 3, 3});
    bn("visual.bn1", vw / 2);
    add("visual.conv2.weight", {vw / 2, vw / 2, 3, 3});
    bn("visual.bn2", vw / 2);
    add("visual.conv3.weight", {vw, vw / 2, 3, 3});
    bn("visual.bn3", vw);
    int64_t in = vw;
    for (int s = 0; s < 4; ++s) {
      const int64_t planes = vw << s;
      for (int64_t b = 0; b < c.vision_layers[s]; ++b) {
        const std::string p = "visual.layer" + std::to_string(s + 1) + "." + std::to_string(b) + ".";
        add(p + "conv1.weight", {planes, in, 1, 1});
        bn(p + "bn1", planes);
        add(p + "conv2.weight", {planes, planes, 3, 3});
        bn(p + "bn2", planes);
        add(p + "conv3.weight", {4 * planes, planes, 1, 1});
        bn(p + "bn3", 4 * planes);
        if (b == 0) {  // stride 2, or (layer1) 64 -> 256 channels
          add(p + "downsample.0.weight", {4 * planes, in, 1, 1});
          bn(p + "downsample.1", 4 * planes);
        }
        in = 4 * planes;
      }
    }
    const int64_t out_w = c.image_resolution / 32, embed = vw * 32;
    add("visual.attnpool.positional_embedding", {out_w * out_w + 1, embed});
    for (const char* n : {"k_proj", "q_proj", "v_proj"}) {
      add(std::string("visual.attnpool.") + n + ".weight", {embed, embed});
      add(std::string("visual.attnpool.") + n + ".bias", {embed});
    }
    add("visual.attnpool.c_proj.weight", {c.embed_dim, embed});
    add("visual.attnpool.c_proj.bias", {c.embed_dim});
  }
  blocks("transformer", tw, c.transformer_layers);
  add("token_embedding.weight", {c.vocab_size, tw});
  ln("ln_final", tw);
  return out;
}

// Shapes without memory: every tensor is a broadcast view of one zero.
io::TensorMap shape_only_state_dict(const CLIPConfig& c) {
  io::TensorMap sd;
  auto zero = torch::zeros({});
  for (const auto& [k, s] : layout(c)) sd.insert(k, zero.expand(s));
  return sd;
}

TEST(CLIPConfig, LayoutRestatementMatchesTheModules) {
  torch::NoGradGuard no_grad;
  CLIPConfig small_vit{32, 64, {2}, 128, 16, 77, 1000, 128, 2, 2, true};
  CLIPConfig small_rn{32, 64, {2, 1, 3, 1}, 8, 0, 77, 1000, 64, 1, 1, false};
  for (const auto& c : {small_vit, small_rn}) {
    SCOPED_TRACE(c.to_string());
    auto sd = ordered_state_dict(*CLIP(c));
    auto want = layout(c);
    ASSERT_EQ(sd.size(), want.size());
    size_t i = 0;
    for (const auto& item : sd) {
      EXPECT_EQ(item.key(), want[i].first);
      EXPECT_EQ(item.value().sizes(), at::IntArrayRef(want[i].second)) << item.key();
      ++i;
    }
    EXPECT_EQ(CLIPConfig::from_state_dict(sd), c);
  }
}

TEST(CLIPConfig, FromStateDictRoundTripsAllNineModels) {
  ASSERT_EQ(known_models().size(), 9u);
  for (const auto& m : known_models()) {
    SCOPED_TRACE(m.name);
    auto inferred = CLIPConfig::from_state_dict(shape_only_state_dict(m.config), m.name);
    EXPECT_EQ(inferred, m.config) << inferred.to_string() << "\nvs\n" << m.config.to_string();
    EXPECT_EQ(identify(inferred), m.name);
  }
}

TEST(CLIPConfig, KnownModelsMatchSpecTable) {
  // dd-spec §8 / models-spec §3.2: heads, grids and embedding sizes that follow from the table.
  EXPECT_EQ(config_of("ViT-B/32").vision_heads(), 12);
  EXPECT_EQ(config_of("ViT-L/14").vision_heads(), 16);
  EXPECT_EQ(config_of("RN50").vision_heads(), 32);
  EXPECT_EQ(config_of("RN50x4").transformer_heads, 10);
  EXPECT_EQ(config_of("RN50x64").transformer_heads, 16);
  EXPECT_EQ(config_of("ViT-L/14@336px").image_resolution, 336);
  EXPECT_EQ(config_of("RN101").embed_dim, 512);
}

TEST(CLIPConfig, IdentifyReturnsEmptyForUnknownConfig) {
  CLIPConfig c = config_of("ViT-B/32");
  c.transformer_layers = 11;
  EXPECT_EQ(identify(c), "");
}

TEST(CLIPConfig, MissingKeyIsNamedInTheError) {
  auto sd = shape_only_state_dict(config_of("RN50"));
  io::TensorMap partial;
  for (const auto& item : sd)
    if (item.key() != "visual.attnpool.positional_embedding") partial.insert(item.key(), item.value());
  try {
    CLIPConfig::from_state_dict(partial, "broken.pt");
    FAIL() << "expected ModelMismatchError";
  } catch (const ModelMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("visual.attnpool.positional_embedding"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("broken.pt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace disco::clip
