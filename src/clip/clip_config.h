// clip.model.build_model's hyper-parameters, models-spec §3.2, dd-spec §8.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/weights_file.h"

namespace disco::clip {

// The arguments of clip.model.CLIP(...) that build_model infers from a state dict.
struct CLIPConfig {
  int64_t embed_dim = 0;
  int64_t image_resolution = 0;
  // One entry (block count) for a ViT, four (blocks per stage) for a ModifiedResNet.
  std::vector<int64_t> vision_layers;
  int64_t vision_width = 0;
  int64_t vision_patch_size = 0;  // 0 for a ModifiedResNet (Python: None)
  int64_t context_length = 0;
  int64_t vocab_size = 0;
  int64_t transformer_width = 0;
  int64_t transformer_heads = 0;
  int64_t transformer_layers = 0;
  bool is_vit = false;
  // The MLP activation of both transformers (open_clip's quick_gelu argument). OpenAI's models
  // always use QuickGELU; the weights do not record it, so from_state_dict leaves it true and
  // open_clip's models set it from their name (open_clip.h).
  bool quick_gelu = true;

  // ViT: width / 64; ModifiedResNet attention pool: width * 32 / 64.
  int64_t vision_heads() const { return is_vit ? vision_width / 64 : vision_width * 32 / 64; }

  // Infers every hyper-parameter from names and shapes exactly like build_model. `source`
  // names the file in error messages. Throws ModelMismatchError naming a missing key.
  static CLIPConfig from_state_dict(const io::TensorMap& sd, const std::string& source = "state dict");

  bool operator==(const CLIPConfig& o) const;
  bool operator!=(const CLIPConfig& o) const { return !(*this == o); }
  std::string to_string() const;
};

struct KnownCLIP {
  std::string name;  // as in clip.available_models(), e.g. "ViT-B/32"
  CLIPConfig config;
};

// The nine OpenAI CLIP models (models-spec §6, dd-spec §8).
const std::vector<KnownCLIP>& known_models();

// The OpenAI name of a configuration, or "" when it is none of the nine.
std::string identify(const CLIPConfig& config);

}  // namespace disco::clip
