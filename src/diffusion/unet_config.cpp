// guided_diffusion.script_util.create_model as DD calls it (models-spec §1.1, dd-spec §3.1).
#include "diffusion/unet_config.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "common/error.h"

namespace disco::diffusion {
namespace {

using Shapes = std::vector<std::pair<std::string, std::vector<int64_t>>>;

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(trim(item));
  return out;
}

int64_t get_int(const nlohmann::json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>())
    return static_cast<int64_t>(v.get<double>());
  if (v.is_string()) {
    try {
      size_t used = 0;
      int64_t n = std::stoll(v.get<std::string>(), &used);
      if (used == v.get<std::string>().size()) return n;
    } catch (const std::exception&) {
    }
  }
  throw SettingsError(detail::concat("model_config: '", key, "' must be an integer, got ", v.dump()));
}

bool get_bool(const nlohmann::json& j, const std::string& key) {
  const auto& v = j.at(key);
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
  throw SettingsError(detail::concat("model_config: '", key, "' must be true or false, got ", v.dump()));
}

double parse_number(const std::string& key, const std::string& s) {
  try {
    size_t used = 0;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  throw SettingsError(detail::concat("model_config: '", key, "' has the entry '", s,
                                     "', which is not a number (expected e.g. \"32, 16, 8\")"));
}

// Keys create_model_and_diffusion accepts that do not shape the network.
const std::set<std::string>& diffusion_keys() {
  static const std::set<std::string> k = {
      "diffusion_steps", "noise_schedule", "timestep_respacing", "use_kl", "predict_xstart",
      "rescale_timesteps", "rescale_learned_sigmas", "use_checkpoint"};
  return k;
}

// Resolves attention_resolutions and channel_mult like create_model.
void derive(UNetConfig& c) {
  if (c.channel_mult.empty()) c.channel_mult = default_channel_mult(c.image_size);
  c.attention_ds.clear();
  for (const auto& r : split_commas(c.attention_resolutions)) {
    if (r.empty()) continue;
    auto res = static_cast<int64_t>(parse_number("attention_resolutions", r));
    DISCO_CHECK(res > 0, SettingsError, "model_config: attention_resolutions entry '", r,
                "' must be a positive resolution");
    c.attention_ds.push_back(c.image_size / res);  // Python: image_size // int(res)
  }
}

void add_resblock(Shapes& s, const std::string& p, int64_t cin, int64_t cout, const UNetConfig& c) {
  const int64_t emb_out = c.use_scale_shift_norm ? 2 * cout : cout;
  s.push_back({p + ".in_layers.0.weight", {cin}});
  s.push_back({p + ".in_layers.0.bias", {cin}});
  s.push_back({p + ".in_layers.2.weight", {cout, cin, 3, 3}});
  s.push_back({p + ".in_layers.2.bias", {cout}});
  s.push_back({p + ".emb_layers.1.weight", {emb_out, c.time_embed_dim()}});
  s.push_back({p + ".emb_layers.1.bias", {emb_out}});
  s.push_back({p + ".out_layers.0.weight", {cout}});
  s.push_back({p + ".out_layers.0.bias", {cout}});
  s.push_back({p + ".out_layers.3.weight", {cout, cout, 3, 3}});
  s.push_back({p + ".out_layers.3.bias", {cout}});
  if (cin != cout) {
    s.push_back({p + ".skip_connection.weight", {cout, cin, 1, 1}});
    s.push_back({p + ".skip_connection.bias", {cout}});
  }
}

void add_attention(Shapes& s, const std::string& p, int64_t ch) {
  s.push_back({p + ".norm.weight", {ch}});
  s.push_back({p + ".norm.bias", {ch}});
  s.push_back({p + ".qkv.weight", {3 * ch, ch, 1}});
  s.push_back({p + ".qkv.bias", {3 * ch}});
  s.push_back({p + ".proj_out.weight", {ch, ch, 1}});
  s.push_back({p + ".proj_out.bias", {ch}});
}

void add_conv(Shapes& s, const std::string& p, int64_t cin, int64_t cout) {
  s.push_back({p + ".weight", {cout, cin, 3, 3}});
  s.push_back({p + ".bias", {cout}});
}

std::vector<int64_t> sizes_of(const at::Tensor& t) { return t.sizes().vec(); }

}  // namespace

std::vector<double> default_channel_mult(int64_t image_size) {
  switch (image_size) {
    case 512: return {0.5, 1, 1, 2, 2, 4, 4};
    case 256: return {1, 1, 2, 2, 4, 4};
    case 128: return {1, 1, 2, 3, 4};
    case 64: return {1, 2, 3, 4};
    default:
      throw SettingsError(detail::concat(
          "model_config: channel_mult is \"\" (automatic), which guided-diffusion defines only for "
          "image_size 512, 256, 128 and 64, but image_size is ", image_size,
          "; set channel_mult explicitly, e.g. \"1,1,2,2,4,4\""));
  }
}

UNetConfig UNetConfig::from_model_config(const nlohmann::json& j) {
  DISCO_CHECK(j.is_object(), SettingsError, "model_config must be a JSON object, got ", j.dump());
  UNetConfig c;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (k == "image_size") c.image_size = get_int(j, k);
    else if (k == "num_channels") c.num_channels = get_int(j, k);
    else if (k == "num_res_blocks") c.num_res_blocks = get_int(j, k);
    else if (k == "num_heads") c.num_heads = get_int(j, k);
    else if (k == "num_head_channels") c.num_head_channels = get_int(j, k);
    else if (k == "num_heads_upsample") c.num_heads_upsample = get_int(j, k);
    else if (k == "use_scale_shift_norm") c.use_scale_shift_norm = get_bool(j, k);
    else if (k == "resblock_updown") c.resblock_updown = get_bool(j, k);
    else if (k == "learn_sigma") c.learn_sigma = get_bool(j, k);
    else if (k == "use_fp16") c.use_fp16 = get_bool(j, k);
    else if (k == "use_new_attention_order") c.use_new_attention_order = get_bool(j, k);
    else if (k == "dropout") {
      DISCO_CHECK(it->is_number(), SettingsError, "model_config: 'dropout' must be a number");
      c.dropout = it->get<double>();
    } else if (k == "class_cond") {
      DISCO_CHECK(!get_bool(j, k), SettingsError,
                  "model_config: class_cond = true (class-conditional UNet with label_emb) is not "
                  "supported; Disco Diffusion's models are unconditional, set class_cond to false");
    } else if (k == "attention_resolutions") {
      if (it->is_number_integer()) c.attention_resolutions = std::to_string(it->get<int64_t>());
      else if (it->is_string()) c.attention_resolutions = it->get<std::string>();
      else throw SettingsError("model_config: 'attention_resolutions' must be a string like \"32, 16, 8\"");
    } else if (k == "channel_mult") {
      c.channel_mult.clear();
      if (it->is_array()) {
        for (const auto& m : *it) c.channel_mult.push_back(m.get<double>());
      } else if (it->is_string()) {
        for (const auto& m : split_commas(it->get<std::string>()))
          if (!m.empty()) c.channel_mult.push_back(parse_number("channel_mult", m));
      } else {
        throw SettingsError("model_config: 'channel_mult' must be a string like \"1,1,2,2,4,4\" or \"\"");
      }
    } else if (!diffusion_keys().count(k)) {
      throw SettingsError(detail::concat("model_config: unknown key '", k,
                                         "' (guided-diffusion's create_model_and_diffusion would reject it)"));
    }
  }
  DISCO_CHECK(c.num_channels > 0 && c.num_res_blocks >= 0, SettingsError,
              "model_config: num_channels must be positive and num_res_blocks non-negative");
  derive(c);
  for (auto ch : c.level_channels())
    DISCO_CHECK(ch > 0 && ch % 32 == 0, SettingsError, "model_config: level width ", ch,
                " (channel_mult x num_channels) must be a positive multiple of 32 for GroupNorm(32)");
  return c;
}

UNetConfig UNetConfig::from_state_dict(const io::TensorMap& sd) { return infer_from_state_dict(sd); }

std::vector<int64_t> UNetConfig::level_channels() const {
  auto mult = channel_mult.empty() ? default_channel_mult(image_size) : channel_mult;
  std::vector<int64_t> out;
  for (double m : mult) out.push_back(static_cast<int64_t>(m * static_cast<double>(num_channels)));
  return out;
}

bool UNetConfig::has_attention(int64_t ds) const {
  return std::find(attention_ds.begin(), attention_ds.end(), ds) != attention_ds.end();
}

int64_t UNetConfig::heads_for(int64_t channels, bool upsample) const {
  if (num_head_channels != -1) {
    DISCO_CHECK(num_head_channels > 0 && channels % num_head_channels == 0, SettingsError,
                "model_config: an attention block has ", channels,
                " channels, which num_head_channels = ", num_head_channels, " does not divide");
    return channels / num_head_channels;
  }
  int64_t heads = upsample && num_heads_upsample != -1 ? num_heads_upsample : num_heads;
  DISCO_CHECK(heads > 0, SettingsError,
              "the UNet's attention head count is unknown (it cannot be read from the weights); "
              "pass the model's config with --model-config (num_heads / num_head_channels)");
  DISCO_CHECK(channels % heads == 0, SettingsError, "model_config: an attention block has ", channels,
              " channels, which ", heads, " heads do not divide");
  return heads;
}

Shapes UNetConfig::state_dict_shapes() const {
  Shapes s;
  const int64_t ted = time_embed_dim();
  s.push_back({"time_embed.0.weight", {ted, num_channels}});
  s.push_back({"time_embed.0.bias", {ted}});
  s.push_back({"time_embed.2.weight", {ted, ted}});
  s.push_back({"time_embed.2.bias", {ted}});
  const auto chans = level_channels();
  const int64_t levels = static_cast<int64_t>(chans.size());
  int64_t ch = chans.at(0);
  add_conv(s, "input_blocks.0.0", in_channels, ch);
  std::vector<int64_t> skip_chans = {ch};
  int64_t ds = 1, idx = 1;
  for (int64_t level = 0; level < levels; ++level) {
    for (int64_t r = 0; r < num_res_blocks; ++r, ++idx) {
      const std::string p = "input_blocks." + std::to_string(idx);
      add_resblock(s, p + ".0", ch, chans[level], *this);
      ch = chans[level];
      if (has_attention(ds)) add_attention(s, p + ".1", ch);
      skip_chans.push_back(ch);
    }
    if (level != levels - 1) {
      const std::string p = "input_blocks." + std::to_string(idx++) + ".0";
      if (resblock_updown) add_resblock(s, p, ch, ch, *this);
      else add_conv(s, p + ".op", ch, ch);
      skip_chans.push_back(ch);
      ds *= 2;
    }
  }
  add_resblock(s, "middle_block.0", ch, ch, *this);
  add_attention(s, "middle_block.1", ch);
  add_resblock(s, "middle_block.2", ch, ch, *this);
  idx = 0;
  for (int64_t level = levels - 1; level >= 0; --level) {
    for (int64_t i = 0; i <= num_res_blocks; ++i, ++idx) {
      const std::string p = "output_blocks." + std::to_string(idx);
      const int64_t ich = skip_chans.back();
      skip_chans.pop_back();
      add_resblock(s, p + ".0", ch + ich, chans[level], *this);
      ch = chans[level];
      int64_t j = 1;
      if (has_attention(ds)) add_attention(s, p + "." + std::to_string(j++), ch);
      if (level > 0 && i == num_res_blocks) {
        const std::string q = p + "." + std::to_string(j);
        if (resblock_updown) add_resblock(s, q, ch, ch, *this);
        else add_conv(s, q + ".conv", ch, ch);
        ds /= 2;
      }
    }
  }
  s.push_back({"out.0.weight", {ch}});
  s.push_back({"out.0.bias", {ch}});
  add_conv(s, "out.2", chans[0], out_channels());
  return s;
}

std::string UNetConfig::summary() const {
  std::ostringstream os;
  os << "num_channels " << num_channels << ", channel_mult (";
  auto mult = channel_mult.empty() ? default_channel_mult(image_size) : channel_mult;
  for (size_t i = 0; i < mult.size(); ++i) os << (i ? "," : "") << mult[i];
  os << "), num_res_blocks " << num_res_blocks << ", attention at ds {";
  for (size_t i = 0; i < attention_ds.size(); ++i) os << (i ? "," : "") << attention_ds[i];
  os << "}, use_scale_shift_norm " << use_scale_shift_norm << ", resblock_updown "
     << resblock_updown << ", learn_sigma " << learn_sigma;
  return os.str();
}

const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = [] {
    auto make = [](const std::string& name, const nlohmann::json& cfg) {
      return Preset{name, UNetConfig::from_model_config(cfg)};
    };
    // dd-spec §3.1: DD's model_config overrides per diffusion_model (architecture keys only).
    const nlohmann::json big = {{"attention_resolutions", "32, 16, 8"}, {"class_cond", false},
                                {"learn_sigma", true},  {"num_channels", 256},
                                {"num_head_channels", 64}, {"num_res_blocks", 2},
                                {"resblock_updown", true}, {"use_fp16", true},
                                {"use_scale_shift_norm", true}};
    auto big512 = big, big256 = big;
    big512["image_size"] = 512;
    big256["image_size"] = 256;
    const nlohmann::json portrait = {
        {"attention_resolutions", "32, 16, 8"}, {"class_cond", false}, {"image_size", 512},
        {"learn_sigma", true}, {"num_channels", 128}, {"num_heads", 4}, {"num_res_blocks", 2},
        {"resblock_updown", true}, {"use_fp16", true}, {"use_scale_shift_norm", true}};
    const nlohmann::json kaliyuga = {
        {"attention_resolutions", "16"}, {"class_cond", false}, {"image_size", 256},
        {"learn_sigma", true}, {"num_channels", 128}, {"num_heads", 1}, {"num_res_blocks", 2},
        {"use_fp16", true}, {"use_scale_shift_norm", false}};
    std::vector<Preset> v = {make("512x512_diffusion_uncond_finetune_008100", big512),
                             make("256x256_diffusion_uncond", big256),
                             make("portrait_generator_v001", portrait)};
    // One architecture for all of KaliYuga's fine-tunes and DD's `custom` (dd-spec §3.1).
    for (const char* name : {"pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
                             "pixelartdiffusion4k", "pixelartdiffusion_expanded", "watercolordiffusion",
                             "watercolordiffusion_2", "PulpSciFiDiffusion", "custom"})
      v.push_back(make(name, kaliyuga));
    return v;
  }();
  return all;
}

const Preset& preset(const std::string& name) {
  std::string known;
  for (const auto& p : presets()) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw SettingsError(detail::concat("unknown diffusion model '", name, "'; known: ", known));
}

namespace {
// First difference between sd and the expected shapes, or "" when they agree exactly.
std::string first_difference(const Shapes& want, const io::TensorMap& sd) {
  std::set<std::string> names;
  for (const auto& [key, shape] : want) {
    names.insert(key);
    const at::Tensor* t = sd.find(key);
    if (!t) return "has no tensor '" + key + "'";
    if (sizes_of(*t) != shape)
      return "tensor '" + key + "' has shape " + shape_str(sizes_of(*t)) + ", expected " + shape_str(shape);
  }
  for (const auto& kv : sd)
    if (!names.count(kv.key())) return "has an unexpected tensor '" + kv.key() + "'";
  return "";
}

const at::Tensor& need(const io::TensorMap& sd, const std::string& key) {
  const at::Tensor* t = sd.find(key);
  DISCO_CHECK(t, ModelMismatchError, "the weights have no tensor '", key,
              "'; they are not a guided-diffusion UNet state dict");
  return *t;
}

bool has(const io::TensorMap& sd, const std::string& key) { return sd.find(key) != nullptr; }

// Number of blocks "prefix.{i}.*" (indices are contiguous from 0 in a real state dict).
int64_t count_blocks(const io::TensorMap& sd, const std::string& prefix) {
  int64_t n = 0;
  for (const auto& kv : sd) {
    const auto& k = kv.key();
    if (k.rfind(prefix, 0) != 0) continue;
    n = std::max<int64_t>(n, std::stoll(k.substr(prefix.size())) + 1);
  }
  return n;
}
}  // namespace

std::optional<PresetMatch> detect_preset(const io::TensorMap& sd) {
  // Comparing one preset costs a walk over ~600 keys; the families are few.
  std::optional<PresetMatch> match;
  for (const auto& p : presets()) {
    if (!first_difference(p.config.state_dict_shapes(), sd).empty()) continue;
    if (!match) match = PresetMatch{p.name, {}, p.config};
    match->same_architecture.push_back(p.name);
  }
  return match;
}

UNetConfig infer_architecture(const io::TensorMap& sd) {
  UNetConfig c;
  const auto te = need(sd, "time_embed.0.weight");  // [4mc, mc]
  DISCO_CHECK(te.dim() == 2 && te.size(0) == 4 * te.size(1), ModelMismatchError,
              "tensor 'time_embed.0.weight' has shape ", shape_str(sizes_of(te)),
              "; a guided-diffusion UNet has [4*C, C]");
  c.num_channels = te.size(1);
  c.in_channels = need(sd, "input_blocks.0.0.weight").size(1);
  const int64_t n_in = count_blocks(sd, "input_blocks.");
  const int64_t n_out = count_blocks(sd, "output_blocks.");
  DISCO_CHECK(n_in == n_out && n_in > 0, ModelMismatchError, "the weights have ", n_in,
              " input_blocks and ", n_out, " output_blocks; a guided-diffusion UNet has equally many");

  // The first output block carrying an upsampler closes the deepest level: its index is
  // num_res_blocks (up-ResBlock or Upsample conv at sequential position 1 or 2).
  int64_t first_up = -1;
  for (int64_t i = 0; i < n_out && first_up < 0; ++i) {
    const std::string p = "output_blocks." + std::to_string(i);
    for (const char* j : {".1", ".2"})
      if (has(sd, p + j + ".in_layers.0.weight") || has(sd, p + j + ".conv.weight")) first_up = i;
  }
  c.num_res_blocks = first_up < 0 ? n_out - 1 : first_up;
  const int64_t levels = n_out / (c.num_res_blocks + 1);
  DISCO_CHECK(levels * (c.num_res_blocks + 1) == n_out, ModelMismatchError, "the weights have ",
              n_out, " output_blocks, which does not fit ", c.num_res_blocks + 1, " blocks per level");

  c.channel_mult.clear();
  for (int64_t level = 0; level < levels; ++level) {
    // Output blocks run from the deepest level up; the first of each level holds its ResBlock width.
    const std::string p = "output_blocks." + std::to_string((levels - 1 - level) * (c.num_res_blocks + 1));
    const int64_t width = need(sd, p + ".0.out_layers.0.weight").size(0);
    c.channel_mult.push_back(static_cast<double>(width) / static_cast<double>(c.num_channels));
    if (has(sd, p + ".1.norm.weight")) c.attention_ds.push_back(int64_t{1} << level);
  }
  if (levels > 1) {
    const std::string down = "input_blocks." + std::to_string(c.num_res_blocks + 1) + ".0";
    c.resblock_updown = has(sd, down + ".in_layers.0.weight");
  }
  const int64_t emb = need(sd, "middle_block.0.emb_layers.1.weight").size(0);
  const int64_t width = need(sd, "middle_block.0.out_layers.0.weight").size(0);
  c.use_scale_shift_norm = emb == 2 * width;
  const int64_t out = need(sd, "out.2.weight").size(0);
  DISCO_CHECK(out == 3 || out == 6, ModelMismatchError, "tensor 'out.2.weight' has ", out,
              " output channels; a guided-diffusion UNet has 3 (eps) or 6 (learn_sigma)");
  c.learn_sigma = out == 6;

  // image_size is not in the weights; recover it where the mult is a guided-diffusion default,
  // so that attention_resolutions reads like DD's config.
  c.image_size = 0;
  for (int64_t size : {512, 256, 128, 64})
    if (default_channel_mult(size) == c.channel_mult) c.image_size = size;
  std::string res;
  for (auto ds : c.attention_ds)
    res += (res.empty() ? "" : ", ") + std::to_string(c.image_size ? c.image_size / ds : ds);
  c.attention_resolutions = c.image_size ? res : "";
  c.num_heads = 0;  // unknown: not in the weights
  c.num_head_channels = -1;

  std::string diff = first_difference(c.state_dict_shapes(), sd);
  DISCO_CHECK(diff.empty(), ModelMismatchError, "the weights look like a guided-diffusion UNet (",
              c.summary(), ") but ", diff);
  return c;
}

UNetConfig infer_from_state_dict(const io::TensorMap& sd) {
  if (auto m = detect_preset(sd)) return m->config;
  UNetConfig c = infer_architecture(sd);
  throw ModelMismatchError(detail::concat(
      "the UNet weights match no known diffusion_model preset (architecture: ", c.summary(),
      "); attention head counts cannot be read from weights, so pass the model's config with "
      "--model-config (a DD model_config JSON with num_heads or num_head_channels)"));
}

void check_state_dict(const UNetConfig& config, const io::TensorMap& sd, const std::string& source) {
  std::string diff = first_difference(config.state_dict_shapes(), sd);
  DISCO_CHECK(diff.empty(), ModelMismatchError, "checkpoint '", source, "' ", diff,
              "; it does not fit the UNet configuration (", config.summary(), ")");
}

}  // namespace disco::diffusion
