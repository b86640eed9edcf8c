#include "clip/clip_config.h"

#include <cmath>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "common/error.h"
#include "common/strings.h"

namespace disco::clip {
namespace {

// The `i`-th dot-separated component of a key ("" when there are fewer).
std::string component(const std::string& key, size_t i) {
  size_t begin = 0;
  for (size_t n = 0; n < i; ++n) {
    begin = key.find('.', begin);
    if (begin == std::string::npos) return "";
    ++begin;
  }
  return key.substr(begin, key.find('.', begin) - begin);
}

const at::Tensor& require(const io::TensorMap& sd, const std::string& key, int64_t dim,
                          const std::string& source) {
  const at::Tensor* t = sd.find(key);
  DISCO_CHECK(t, ModelMismatchError, "'", source, "' has no tensor '", key,
              "', so it is not an OpenAI CLIP checkpoint (or it is damaged)");
  DISCO_CHECK(t->dim() == dim, ModelMismatchError, "'", source, "': tensor '", key, "' has ",
              t->dim(), " dimensions, expected ", dim, "; it is not an OpenAI CLIP checkpoint");
  return *t;
}

// Number of distinct values of the `index`-th key component among keys starting with `prefix`.
int64_t count_distinct(const io::TensorMap& sd, const std::string& prefix, size_t index) {
  std::set<std::string> seen;
  for (const auto& item : sd)
    if (starts_with(item.key(), prefix)) seen.insert(component(item.key(), index));
  return static_cast<int64_t>(seen.size());
}

// round(sqrt(rows - 1)), checked to be an exact square as build_model asserts.
int64_t grid_from_rows(int64_t rows, const std::string& key, const std::string& source) {
  auto g = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(rows - 1))));
  DISCO_CHECK(g * g + 1 == rows, ModelMismatchError, "'", source, "': tensor '", key, "' has ",
              rows, " rows, which is not a square grid plus one class token");
  return g;
}

}  // namespace

CLIPConfig CLIPConfig::from_state_dict(const io::TensorMap& sd, const std::string& source) {
  CLIPConfig c;
  c.is_vit = sd.contains("visual.proj");
  if (c.is_vit) {
    const auto conv1 = require(sd, "visual.conv1.weight", 4, source);
    c.vision_width = conv1.size(0);
    int64_t layers = 0;
    for (const auto& item : sd)
      if (starts_with(item.key(), "visual.") && ends_with(item.key(), ".attn.in_proj_weight")) ++layers;
    c.vision_layers = {layers};
    c.vision_patch_size = conv1.size(-1);
    const std::string pos_key = "visual.positional_embedding";
    int64_t grid = grid_from_rows(require(sd, pos_key, 2, source).size(0), pos_key, source);
    c.image_resolution = c.vision_patch_size * grid;
  } else {
    for (int b = 1; b <= 4; ++b)
      c.vision_layers.push_back(count_distinct(sd, "visual.layer" + std::to_string(b) + ".", 2));
    c.vision_width = require(sd, "visual.layer1.0.conv1.weight", 4, source).size(0);
    const std::string pos_key = "visual.attnpool.positional_embedding";
    int64_t output_width = grid_from_rows(require(sd, pos_key, 2, source).size(0), pos_key, source);
    c.image_resolution = output_width * 32;
  }
  c.embed_dim = require(sd, "text_projection", 2, source).size(1);
  c.context_length = require(sd, "positional_embedding", 2, source).size(0);
  c.vocab_size = require(sd, "token_embedding.weight", 2, source).size(0);
  c.transformer_width = require(sd, "ln_final.weight", 1, source).size(0);
  c.transformer_heads = c.transformer_width / 64;
  c.transformer_layers = count_distinct(sd, "transformer.resblocks.", 2);

  DISCO_CHECK(c.transformer_heads >= 1 && c.vision_heads() >= 1, ModelMismatchError, "'", source,
              "': widths below 64 give zero attention heads (", c.to_string(), ")");
  DISCO_CHECK(c.transformer_layers >= 1, ModelMismatchError, "'", source,
              "' has no tensors 'transformer.resblocks.*'; it is not an OpenAI CLIP checkpoint");
  return c;
}

bool CLIPConfig::operator==(const CLIPConfig& o) const {
  return embed_dim == o.embed_dim && image_resolution == o.image_resolution &&
         vision_layers == o.vision_layers && vision_width == o.vision_width &&
         vision_patch_size == o.vision_patch_size && context_length == o.context_length &&
         vocab_size == o.vocab_size && transformer_width == o.transformer_width &&
         transformer_heads == o.transformer_heads && transformer_layers == o.transformer_layers &&
         is_vit == o.is_vit && quick_gelu == o.quick_gelu;
}

std::string CLIPConfig::to_string() const {
  std::ostringstream os;
  os << (is_vit ? "ViT" : "ModifiedResNet") << " embed_dim=" << embed_dim
     << " image_resolution=" << image_resolution << " vision_layers=(";
  for (size_t i = 0; i < vision_layers.size(); ++i) os << (i ? "," : "") << vision_layers[i];
  os << ") vision_width=" << vision_width;
  if (is_vit) os << " vision_patch_size=" << vision_patch_size;
  os << " context_length=" << context_length << " vocab_size=" << vocab_size
     << " transformer=" << transformer_width << "/" << transformer_heads << "/" << transformer_layers;
  if (!quick_gelu) os << " GELU";
  return os.str();
}

namespace {
CLIPConfig vit(int64_t embed, int64_t res, int64_t layers, int64_t width, int64_t patch, int64_t text_width) {
  return CLIPConfig{embed, res, {layers}, width, patch, 77, 49408, text_width, text_width / 64, 12, true};
}
CLIPConfig resnet(int64_t embed, int64_t res, std::vector<int64_t> layers, int64_t width, int64_t text_width) {
  return CLIPConfig{embed, res, std::move(layers), width, 0, 77, 49408, text_width, text_width / 64, 12, false};
}
}  // namespace

const std::vector<KnownCLIP>& known_models() {
  static const std::vector<KnownCLIP> models = {
      {"RN50", resnet(1024, 224, {3, 4, 6, 3}, 64, 512)},
      {"RN101", resnet(512, 224, {3, 4, 23, 3}, 64, 512)},
      {"RN50x4", resnet(640, 288, {4, 6, 10, 6}, 80, 640)},
      {"RN50x16", resnet(768, 384, {6, 8, 18, 8}, 96, 768)},
      {"RN50x64", resnet(1024, 448, {3, 15, 36, 10}, 128, 1024)},
      {"ViT-B/32", vit(512, 224, 12, 768, 32, 512)},
      {"ViT-B/16", vit(512, 224, 12, 768, 16, 512)},
      {"ViT-L/14", vit(768, 224, 24, 1024, 14, 768)},
      {"ViT-L/14@336px", vit(768, 336, 24, 1024, 14, 768)},
  };
  return models;
}

std::string identify(const CLIPConfig& config) {
  for (const auto& m : known_models())
    if (m.config == config) return m.name;
  return "";
}

}  // namespace disco::clip
