// Hyper-parameters of guided_diffusion.unet.UNetModel as Disco Diffusion configures it
// (models-spec §1.1, dd-spec §3.1): DD-style model_config dicts, DD's presets, and recognising a
// preset (or inferring the architecture) from a checkpoint's key names and shapes.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/weights_file.h"

namespace disco::diffusion {

struct UNetConfig {
  // Names as in guided-diffusion's model_and_diffusion_defaults(); defaults are its defaults.
  int64_t image_size = 64;  // training size: only used to derive attention ds and channel_mult
  int64_t in_channels = 3;
  int64_t num_channels = 128;  // model_channels
  int64_t num_res_blocks = 2;
  std::vector<double> channel_mult;     // empty = guided-diffusion's default for image_size
  std::string attention_resolutions = "16,8";
  std::vector<int64_t> attention_ds;    // derived: image_size / r for each r (the architectural truth)
  int64_t num_heads = 4;                // 0 = unknown (inferred from a state dict)
  int64_t num_head_channels = -1;       // -1 = use num_heads
  int64_t num_heads_upsample = -1;      // -1 = num_heads
  bool use_scale_shift_norm = true;
  bool resblock_updown = false;
  bool learn_sigma = false;
  double dropout = 0.0;
  bool use_fp16 = false;  // DD's GPU precision split (models-spec §1.7); see UNetModel::set_precision
  bool use_new_attention_order = false;

  // A DD-style model_config dict (keys of model_and_diffusion_defaults; diffusion keys ignored).
  // Throws SettingsError naming the key on bad values, class_cond = true, or an unsupported size.
  static UNetConfig from_model_config(const nlohmann::json& model_config);
  // = infer_from_state_dict (STYLE §6 spelling).
  static UNetConfig from_state_dict(const io::TensorMap& sd);

  int64_t out_channels() const { return learn_sigma ? 6 : 3; }
  int64_t time_embed_dim() const { return 4 * num_channels; }
  // int(mult * num_channels) for each level, with the default channel_mult resolved.
  std::vector<int64_t> level_channels() const;
  bool has_attention(int64_t ds) const;
  // Attention heads of a block with `channels` channels (upsample = in output_blocks).
  int64_t heads_for(int64_t channels, bool upsample) const;
  // Every parameter name and shape of the network, in state_dict() order (no allocation).
  std::vector<std::pair<std::string, std::vector<int64_t>>> state_dict_shapes() const;
  // One line for messages and docs: "channels 256, mult (0.5,1,...), ...".
  std::string summary() const;
};

// guided-diffusion's automatic channel_mult for image_size 512/256/128/64; throws otherwise.
std::vector<double> default_channel_mult(int64_t image_size);

// Presets of DD's diffusion_model setting (dd-spec §3.1), in detection order.
struct Preset {
  std::string name;
  UNetConfig config;
};
const std::vector<Preset>& presets();
// Throws SettingsError listing the known names.
const Preset& preset(const std::string& name);

struct PresetMatch {
  std::string name;                       // the first matching preset
  std::vector<std::string> same_architecture;  // every preset the weights fit (incl. name)
  UNetConfig config;
};
// The first preset whose key names and shapes equal sd's exactly. Presets with the same
// architecture cannot be told apart by weights (e.g. all KaliYuga fine-tunes); the first of the
// family is returned and same_architecture lists them all; their head counts agree.
std::optional<PresetMatch> detect_preset(const io::TensorMap& sd);

// Everything the shapes tell (channels, mult, res blocks, attention levels, scale-shift from the
// emb_layers width, resblock_updown from op/conv keys, learn_sigma from the out channels); head
// counts are not in the weights and come back as num_heads = 0. Throws ModelMismatchError naming
// the key that does not fit a guided-diffusion UNet.
UNetConfig infer_architecture(const io::TensorMap& sd);

// The matching preset's config; otherwise throws ModelMismatchError with the inferred
// architecture and a hint that --model-config must supply the head counts.
UNetConfig infer_from_state_dict(const io::TensorMap& sd);

// Throws ModelMismatchError naming the first missing, unexpected or misshaped key when sd is not
// exactly the state dict of `config`'s network. `source` names the file for the message.
void check_state_dict(const UNetConfig& config, const io::TensorMap& sd, const std::string& source);

}  // namespace disco::diffusion
