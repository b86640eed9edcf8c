// CLIP encoders and the image gradient against the reference (manifest section "clip"): every
// fixture file listed in manifest.clip.files, with its configuration, keys and tolerances.
#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "clip/clip_model.h"
#include "clip_test_util.h"
#include "io/sha256.h"
#include "support/fixtures.h"

namespace disco::clip {
namespace {
using nlohmann::json;

const json& clip_section() { return test::manifest().at("clip"); }

CLIPConfig config_from_json(const json& a) {
  CLIPConfig c;
  c.embed_dim = a.at("embed_dim");
  c.image_resolution = a.at("image_resolution");
  const auto& layers = a.at("vision_layers");
  c.is_vit = layers.is_number();  // build_model: an int for ViT, a 4-tuple for ModifiedResNet
  if (c.is_vit)
    c.vision_layers = {layers.get<int64_t>()};
  else
    c.vision_layers = layers.get<std::vector<int64_t>>();
  c.vision_width = a.at("vision_width");
  c.vision_patch_size = a.at("vision_patch_size").is_null() ? 0 : a.at("vision_patch_size").get<int64_t>();
  c.context_length = a.at("context_length");
  c.vocab_size = a.at("vocab_size");
  c.transformer_width = a.at("transformer_width");
  c.transformer_heads = a.at("transformer_heads");
  c.transformer_layers = a.at("transformer_layers");
  return c;
}

// The tensor-name prefix ("<tag>.image", ...) of a fixture file. Rule 1: the procedure text
// names it ("tag vit = clip_vit_tiny.pt, rn = clip_rn_tiny.pt", i.e. "<tag> = <file>"). Rule 2,
// when the text does not: the only tag whose "<tag>.image" has the file's input resolution.
std::string tag_for(const std::string& file, const CLIPConfig& config) {
  std::set<std::string> tags;
  for (const auto& [name, entry] : clip_section().at("tensors").items()) {
    const std::string suffix = ".image";
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      tags.insert(name.substr(0, name.size() - suffix.size()));
  }
  for (const auto& line : clip_section().at("procedure"))
    for (const auto& t : tags) {
      const std::string text = line.get<std::string>(), needle = t + " = " + file;
      auto pos = text.find(needle);
      // whole-word tag: preceded by start, space or comma
      if (pos != std::string::npos && (pos == 0 || text[pos - 1] == ' ' || text[pos - 1] == ','))
        return t;
    }
  std::vector<std::string> by_resolution;
  for (const auto& t : tags) {
    auto shape = clip_section().at("tensors").at(t + ".image").at("shape").get<std::vector<int64_t>>();
    if (shape.size() == 4 && shape[2] == config.image_resolution && shape[3] == config.image_resolution)
      by_resolution.push_back(t);
  }
  EXPECT_EQ(by_resolution.size(), 1u) << "cannot tell which '<tag>.image' belongs to " << file;
  return by_resolution.empty() ? "" : by_resolution[0];
}

void check_sha256(const std::string& file) {
  const auto& files = test::manifest().at("files");
  if (!files.contains(file) || !files.at(file).contains("sha256")) return;
  EXPECT_EQ(io::sha256_file(test::fixture_path(file)), files.at(file).at("sha256").get<std::string>())
      << "fixture " << file << " does not match manifest.json; restore the fixture folder";
}

TEST(CLIPParity, FixtureKeysAndConfigMatchManifest) {
  for (const auto& [file, entry] : clip_section().at("files").items()) {
    SCOPED_TRACE(file);
    check_sha256(file);
    const std::string path = test::fixture_path(file);
    io::TensorMap sd = io::load_torchscript(path);
    const auto& keys = entry.at("keys_in_order");
    // The loaded map against the file's list: every name with its shape and dtype. (The order
    // of load_torchscript is parameters then buffers, not Python's interleaved state_dict order;
    // the order is checked on the built model below.)
    EXPECT_EQ(sd.size(), keys.size());
    for (const auto& k : keys) {
      const std::string name = k.at(0);
      const at::Tensor* t = sd.find(name);
      ASSERT_TRUE(t) << "missing " << name;
      EXPECT_EQ(t->sizes().vec(), k.at(1).get<std::vector<int64_t>>()) << name;
      EXPECT_EQ(test::python_dtype(t->scalar_type()), k.at(2).get<std::string>()) << name;
    }

    CLIPConfig config = CLIPConfig::from_state_dict(sd, path);
    CLIPConfig want = config_from_json(entry.at("clip_args"));
    EXPECT_EQ(config, want) << config.to_string() << "\nvs clip_args\n" << want.to_string();
    if (entry.contains("derived")) {
      const auto& d = entry.at("derived");
      for (const char* heads : {"vision_heads", "attnpool_heads"}) {
        if (d.contains(heads)) {
          EXPECT_EQ(config.vision_heads(), d.at(heads).get<int64_t>()) << heads;
        }
      }
    }

    // The model loaded in DD's CUDA placement (convert_weights, fp16) has the file's keys, in
    // the file's order, with the file's dtypes (the three JIT-only scalars aside).
    CLIP model = load_clip(path, torch::kCPU, torch::kHalf);
    auto model_sd = ordered_state_dict(*model);
    const auto& skip = jit_only_keys();
    auto it = model_sd.begin();
    for (const auto& k : keys) {
      const std::string name = k.at(0);
      if (std::find(skip.begin(), skip.end(), name) != skip.end()) continue;
      ASSERT_NE(it, model_sd.end()) << "model has fewer tensors than the file; next is " << name;
      EXPECT_EQ(it->key(), name);
      EXPECT_EQ(it->value().sizes().vec(), k.at(1).get<std::vector<int64_t>>()) << name;
      EXPECT_EQ(test::python_dtype(it->value().scalar_type()), k.at(2).get<std::string>()) << name;
      ++it;
    }
    EXPECT_EQ(it, model_sd.end());
  }
}

TEST(CLIPParity, EncodersAndImageGradientMatchReference) {
  const auto& tensors = clip_section().at("tensors");
  const test::Fixture e("clip");
  for (const auto& [file, entry] : clip_section().at("files").items()) {
    SCOPED_TRACE(file);
    const std::string path = test::fixture_path(file);
    CLIP model = load_clip(path);  // fp32: DD on CPU, as the reference ran
    const std::string tag = tag_for(file, model->config());
    ASSERT_FALSE(tag.empty());
    auto image = e[tag + ".image"];
    auto tokens = e[tag + ".tokens"];

    std::map<std::string, torch::Tensor> produced;
    {
      torch::NoGradGuard no_grad;
      produced["encode_image"] = model->encode_image(image);
      produced["encode_text"] = model->encode_text(tokens);
    }
    if (tensors.contains(tag + ".grad_image")) {
      auto x = image.clone().requires_grad_(true);
      (model->encode_image(x) * e[tag + ".r"]).sum().backward();
      produced["grad_image"] = x.grad();
    }

    int compared = 0;
    for (const auto& [name, t] : tensors.items()) {
      if (name.rfind(tag + ".", 0) != 0 || t.value("role", "") != "expected") continue;
      const std::string what = name.substr(tag.size() + 1);
      ASSERT_TRUE(produced.count(what)) << "manifest expects '" << name << "', which this test cannot produce";
      e.check(produced[what], name);
      ++compared;
    }
    EXPECT_GT(compared, 0) << "no expected tensors for tag " << tag;
  }
}

}  // namespace
}  // namespace disco::clip
