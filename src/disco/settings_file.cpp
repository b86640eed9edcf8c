// Settings files and overrides: DD's keys read into Settings (merge_settings, load_settings_file,
// apply_override) with the typed readers and their errors, and written back (to_json).
#include "disco/settings.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>

#include "common/error.h"
#include "disco/schedule_string.h"
#include "disco/settings_internal.h"

namespace disco {

using json = nlohmann::json;
using settings_detail::join;
using settings_detail::parse_seed_text;

namespace {

// DD's OpenCLIP flags (§2.1): DD keys, accepted only when false (OpenCLIP is not supported).
const std::vector<std::string> kOpenClipFlags ={
    "ViTB32_laion2b_e16",      "ViTB32_laion400m_e31",   "ViTB32_laion400m_32", "ViTB32quickgelu_laion400m_e31",
    "ViTB32quickgelu_laion400m_e32", "ViTB16_laion400m_e31", "ViTB16_laion400m_e32", "RN50_yffcc15m",
    "RN50_cc12m",              "RN50_quickgelu_yfcc15m", "RN50_quickgelu_cc12m", "RN101_yfcc15m",
    "RN101_quickgelu_yfcc15m"};

// DD settings for animation, video, 3D and resuming: accepted in files, ignored for still images.
const std::vector<std::string> kIgnoredDDKeys ={
    "animation_mode", "key_frames", "max_frames", "interp_spline", "angle", "zoom", "translation_x",
    "translation_y", "translation_z", "rotation_3d_x", "rotation_3d_y", "rotation_3d_z", "midas_depth_model",
    "midas_weight", "near_plane", "far_plane", "fov", "padding_mode", "sampling_mode", "turbo_mode", "turbo_steps",
    "turbo_preroll", "vr_mode", "vr_eye_angle", "vr_ipd", "frames_scale", "frames_skip_steps", "video_init_path",
    "extract_nth_frame", "persistent_frame_output_in_batch_folder", "video_init_seed_continuity",
    "video_init_flow_warp", "video_init_flow_blend", "video_init_check_consistency", "video_init_blend_mode",
    "video_init_steps", "video_init_clip_guidance_scale", "video_init_tv_scale", "video_init_range_scale",
    "video_init_sat_scale", "video_init_cutn_batches", "video_init_skip_steps", "video_init_frames_scale",
    "video_init_frames_skip_steps", "resume_run", "run_to_resume", "resume_from_frame",
    "retain_overwritten_frames"};

// ---- typed readers: `key` and `source` name the value in errors ----

struct Ctx {
  const std::string& key;
  const std::string& source;
};

[[noreturn]] void type_error(const Ctx& c, const json& v, const char* wanted) {
  throw SettingsError(detail::concat("setting '", c.key, "' must be ", wanted, ", but it is ", v.dump(), "."));
}

bool read_bool(const json& v, const Ctx& c) {
  if (!v.is_boolean()) type_error(c, v, "true or false");
  return v.get<bool>();
}

double read_double(const json& v, const Ctx& c) {
  if (!v.is_number()) type_error(c, v, "a number");
  return v.get<double>();
}

long long read_integer(const json& v, const Ctx& c) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15) return static_cast<long long>(d);
  }
  type_error(c, v, "an integer");
}

int read_int(const json& v, const Ctx& c) {
  long long n = read_integer(v, c);
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) type_error(c, v, "a smaller integer");
  return static_cast<int>(n);
}

std::string read_string(const json& v, const Ctx& c) {
  if (!v.is_string()) type_error(c, v, "a string");
  return v.get<std::string>();
}

std::array<int, 2> read_pair(const json& v, const Ctx& c) {
  if (!v.is_array() || v.size() != 2) type_error(c, v, "a list [width, height]");
  return {read_int(v[0], c), read_int(v[1], c)};
}

std::optional<std::string> read_init_image(const json& v, const Ctx& c) {
  if (v.is_null()) return std::nullopt;
  std::string s = read_string(v, c);
  if (s.empty() || s == "none" || s == "None" || s == "NONE") return std::nullopt;  // DD's "no init" spellings
  return s;
}


// ---- the table of settings: DD name -> how to read it into Settings ----

using Reader = std::function<void(Settings&, const json&, const Ctx&, std::vector<std::string>&)>;

template <typename T>
Reader member(T Settings::*m);
template <>
Reader member(bool Settings::*m) {
  return [m](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) { s.*m = read_bool(v, c); };
}
template <>
Reader member(double Settings::*m) {
  return [m](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) { s.*m = read_double(v, c); };
}
template <>
Reader member(int Settings::*m) {
  return [m](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) { s.*m = read_int(v, c); };
}
template <>
Reader member(std::string Settings::*m) {
  return [m](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) { s.*m = read_string(v, c); };
}

void set_clip_models(Settings& s, const json& v, const Ctx& c) {
  std::vector<std::string> names;
  if (v.is_string()) {  // "ViT-B/32,RN50" as typed on a command line
    std::stringstream ss(v.get<std::string>());
    for (std::string item; std::getline(ss, item, ',');) {
      item.erase(0, item.find_first_not_of(" \t"));
      item.erase(item.find_last_not_of(" \t") + 1);
      if (!item.empty()) names.push_back(item);
    }
  } else if (v.is_array()) {
    for (const auto& item : v) names.push_back(read_string(item, c));
  } else {
    type_error(c, v, "a list of CLIP model names such as [\"ViT-B/32\", \"RN50\"]");
  }
  std::set<std::string> wanted(names.begin(), names.end());
  std::string choices;
  for (const auto& [flag, name] : clip_model_flags()) {
    choices += (choices.empty() ? "" : ", ") + name;
    bool on = wanted.erase(name) + wanted.erase(flag) > 0;  // "ViT-B/32" or DD's flag name "ViTB32"
    if (flag == "ViTB32") s.ViTB32 = on;
    if (flag == "ViTB16") s.ViTB16 = on;
    if (flag == "ViTL14") s.ViTL14 = on;
    if (flag == "ViTL14_336px") s.ViTL14_336px = on;
    if (flag == "RN50") s.RN50 = on;
    if (flag == "RN50x4") s.RN50x4 = on;
    if (flag == "RN50x16") s.RN50x16 = on;
    if (flag == "RN50x64") s.RN50x64 = on;
    if (flag == "RN101") s.RN101 = on;
  }
  DISCO_CHECK(wanted.empty(), SettingsError, "setting 'clip_models' names an unknown CLIP model '",
              *wanted.begin(), "'; the choices are ", choices, ".");
}

const std::map<std::string, Reader>& readers() {
  static const std::map<std::string, Reader> table = [] {
    std::map<std::string, Reader> t;
    t["text_prompts"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.text_prompts = PromptSchedule::from_json(v, "text_prompts");
    };
    t["image_prompts"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.image_prompts = PromptSchedule::from_json(v, "image_prompts");
    };
    t["prompt_keys"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      const std::string k = read_string(v, c);
      DISCO_CHECK(k == "step" || k == "frame", SettingsError, "setting 'prompt_keys' is '", k,
                  "', but it must be 'step' (prompt keys are sampler steps) or 'frame' (animation frames, DD's "
                  "meaning: a still image uses the first entry).");
      s.prompt_keys = k == "frame" ? PromptKeys::Frame : PromptKeys::Step;
    };
    t["diffusion_model"] = member(&Settings::diffusion_model);
    t["use_secondary_model"] = member(&Settings::use_secondary_model);
    t["diffusion_sampling_mode"] = member(&Settings::diffusion_sampling_mode);
    t["custom_path"] = member(&Settings::custom_path);
    t["use_checkpoint"] = member(&Settings::use_checkpoint);
    t["check_model_SHA"] = member(&Settings::check_model_SHA);
    t["ViTB32"] = member(&Settings::ViTB32);
    t["ViTB16"] = member(&Settings::ViTB16);
    t["ViTL14"] = member(&Settings::ViTL14);
    t["ViTL14_336px"] = member(&Settings::ViTL14_336px);
    t["RN101"] = member(&Settings::RN101);
    t["RN50"] = member(&Settings::RN50);
    t["RN50x4"] = member(&Settings::RN50x4);
    t["RN50x16"] = member(&Settings::RN50x16);
    t["RN50x64"] = member(&Settings::RN50x64);
    t["clip_models"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      set_clip_models(s, v, c);
    };
    for (const auto& flag : kOpenClipFlags) {
      t[flag] = [](Settings&, const json& v, const Ctx& c, std::vector<std::string>&) {
        DISCO_CHECK(!read_bool(v, c), SettingsError, "setting '", c.key,
                    "' selects an OpenCLIP model, which disco-cpp does not support; set it to false and use the "
                    "OpenAI CLIP models (ViTB32, ViTB16, ViTL14, ViTL14_336px, RN50, RN50x4, RN50x16, RN50x64, "
                    "RN101).");
      };
    }
    t["batch_name"] = member(&Settings::batch_name);
    t["steps"] = member(&Settings::steps);
    t["width_height_for_512x512_models"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.width_height_for_512x512_models = read_pair(v, c);
    };
    t["width_height_for_256x256_models"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.width_height_for_256x256_models = read_pair(v, c);
    };
    t["width_height"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      auto wh = read_pair(v, c);
      s.width = wh[0];
      s.height = wh[1];
    };
    t["width"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) { s.width = read_int(v, c); };
    t["height"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.height = read_int(v, c);
    };
    t["clip_guidance_scale"] = member(&Settings::clip_guidance_scale);
    t["tv_scale"] = member(&Settings::tv_scale);
    t["range_scale"] = member(&Settings::range_scale);
    t["sat_scale"] = member(&Settings::sat_scale);
    t["cutn_batches"] = member(&Settings::cutn_batches);
    t["skip_augs"] = member(&Settings::skip_augs);
    t["init_image"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.init_image = read_init_image(v, c);
    };
    t["init_scale"] = member(&Settings::init_scale);
    t["skip_steps"] = member(&Settings::skip_steps);
    t["intermediate_saves"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      IntermediateSaves out;
      if (v.is_array()) {
        out.steps.emplace();
        for (const auto& item : v) out.steps->push_back(read_int(item, c));
      } else if (v.is_boolean()) {  // Python: False == 0, True == 1
        out.count = v.get<bool>() ? 1 : 0;
      } else {
        out.count = read_int(v, c);
      }
      s.intermediate_saves = out;
    };
    t["intermediates_in_subfolder"] = member(&Settings::intermediates_in_subfolder);
    t["perlin_init"] = member(&Settings::perlin_init);
    t["perlin_mode"] = member(&Settings::perlin_mode);
    t["set_seed"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      if (v.is_number_integer()) {
        s.set_seed = std::to_string(v.get<long long>());
      } else {
        s.set_seed = read_string(v, c);
      }
      if (s.set_seed != "random_seed") parse_seed_text(s.set_seed, "set_seed");
    };
    t["seed"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      if (v.is_null()) {
        s.seed.reset();
        return;
      }
      if (v.is_string()) {  // "random_seed" as in set_seed, or digits
        std::string text = v.get<std::string>();
        if (text == "random_seed") {
          s.seed.reset();
        } else {
          s.seed = parse_seed_text(text, "seed");
        }
        return;
      }
      s.seed = parse_seed_text(std::to_string(read_integer(v, c)), "seed");
    };
    t["eta"] = member(&Settings::eta);
    t["clamp_grad"] = member(&Settings::clamp_grad);
    t["clamp_max"] = member(&Settings::clamp_max);
    t["randomize_class"] = member(&Settings::randomize_class);
    t["clip_denoised"] = member(&Settings::clip_denoised);
    t["fuzzy_prompt"] = member(&Settings::fuzzy_prompt);
    t["rand_mag"] = member(&Settings::rand_mag);
    t["use_vertical_symmetry"] = member(&Settings::use_vertical_symmetry);
    t["use_horizontal_symmetry"] = member(&Settings::use_horizontal_symmetry);
    t["transformation_percent"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {
      s.transformation_percent.clear();
      if (v.is_array()) {
        for (const auto& item : v) s.transformation_percent.push_back(read_double(item, c));
      } else {
        s.transformation_percent.push_back(read_double(v, c));
      }
    };
    t["display_rate"] = member(&Settings::display_rate);
    t["n_batches"] = member(&Settings::n_batches);
    t["batch_size"] = member(&Settings::batch_size);
    t["cut_overview"] = member(&Settings::cut_overview);
    t["cut_innercut"] = member(&Settings::cut_innercut);
    t["cut_ic_pow"] = member(&Settings::cut_ic_pow);
    t["cut_icgray_p"] = member(&Settings::cut_icgray_p);
    // Derived values DD writes into its settings file: recomputed, a note when they disagree.
    t["diffusion_steps"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {};
    t["timestep_respacing"] = [](Settings& s, const json& v, const Ctx& c, std::vector<std::string>&) {};
    return t;
  }();
  return table;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) == std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string closest_key(const std::string& key) {
  std::string best;
  std::size_t best_d = 4;  // suggest only near misses
  auto consider = [&](const std::string& k) {
    std::size_t d = edit_distance(key, k);
    if (d < best_d) best_d = d, best = k;
  };
  for (const auto& kv : readers()) consider(kv.first);
  return best;
}

}  // namespace

Settings merge_settings(const Settings& base, const json& j, const std::string& source,
                        std::vector<std::string>* notes) {
  DISCO_CHECK(j.is_object(), SettingsError, source, ": settings must be a JSON object of DD setting names and values ",
              "(e.g. {\"steps\": 100}), but it is ", j.is_array() ? "a list" : j.type_name(), ".");
  Settings s = base;
  std::vector<std::string> local_notes;
  std::vector<std::string> ignored;
  const auto& table = readers();
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    if (std::find(kIgnoredDDKeys.begin(), kIgnoredDDKeys.end(), key) != kIgnoredDDKeys.end()) {
      ignored.push_back(key);
      if (key == "animation_mode" && it.value() != "None")
        local_notes.push_back("animation_mode is " + it.value().dump() +
                              ", but disco-cpp makes still images only: it runs as animation_mode 'None'.");
      continue;
    }
    auto reader = table.find(key);
    if (reader == table.end()) {
      std::string hint = closest_key(key);
      throw SettingsError(detail::concat(source, ": unknown setting '", key, "'",
                                         hint.empty() ? "" : "; did you mean '" + hint + "'?",
                                         hint.empty() ? "." : "",
                                         " docs/settings.md lists every setting (DD's names are used)."));
    }
    Ctx ctx{key, source};
    try {
      reader->second(s, it.value(), ctx, local_notes);
    } catch (const SettingsError& e) {
      throw SettingsError(source + ": " + e.what());
    }
  }
  if (!ignored.empty())
    local_notes.push_back("ignored DD settings for animation, video, 3D and resuming (disco-cpp makes still "
                          "images): " + join(ignored) + ".");
  for (const char* derived : {"diffusion_steps", "timestep_respacing"}) {
    if (!j.contains(derived)) continue;
    json expected = std::string(derived) == "diffusion_steps" ? json(s.diffusion_steps()) : json(s.timestep_respacing());
    if (j[derived] != expected)
      local_notes.push_back(std::string(derived) + " is derived from steps: " + j[derived].dump() +
                            " in the file is replaced by " + expected.dump() + ".");
  }
  try {
    s.validate();
  } catch (const SettingsError& e) {
    throw SettingsError(source + ": " + e.what());
  }
  if (notes) notes->insert(notes->end(), local_notes.begin(), local_notes.end());
  return s;
}

Settings load_settings_file(const std::string& path, const Settings& base, std::vector<std::string>* notes) {
  std::ifstream in(path, std::ios::binary);
  DISCO_CHECK(in, SettingsError, "cannot open the settings file '", path, "'; check the path.");
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  std::string source = "settings file '" + path + "'";
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    std::string first = text.substr(text.find_first_not_of(" \t\r\n\xEF\xBB\xBF") == std::string::npos
                                        ? 0
                                        : text.find_first_not_of(" \t\r\n\xEF\xBB\xBF"), 1);
    bool looks_yaml = !first.empty() && first != "{" && first != "[";
    throw SettingsError(detail::concat(
        source, " is not valid JSON (byte ", e.byte, "): ", e.what(),
        looks_yaml ? ". It looks like YAML; disco-cpp reads settings files as JSON only (DD's *_settings.txt "
                     "format), e.g. {\"steps\": 100, \"text_prompts\": {\"0\": [\"a lighthouse:2\"]}}."
                   : "."));
  }
  if (is_dd_settings_file(j)) {
    j["prompt_keys"] = "frame";
    if (notes)
      notes->push_back(source + " was written by DD (it has DD's animation keys and no prompt_keys): its prompt keys "
                                "are animation frames, as in DD (prompt_keys 'frame').");
  }
  return merge_settings(base, j, source, notes);
}

bool is_dd_settings_file(const json& j) {
  if (!j.is_object() || j.contains("prompt_keys")) return false;
  return std::any_of(kIgnoredDDKeys.begin(), kIgnoredDDKeys.end(), [&](const std::string& k) { return j.contains(k); });
}

Settings apply_override(const Settings& base, const std::string& key_equals_value, std::vector<std::string>* notes) {
  std::size_t eq = key_equals_value.find('=');
  DISCO_CHECK(eq != std::string::npos && eq > 0, SettingsError, "command line: the override '", key_equals_value,
              "' must look like key=value, e.g. steps=100.");
  std::string key = key_equals_value.substr(0, eq);
  std::string text = key_equals_value.substr(eq + 1);
  json value = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded() || value.is_string()) return merge_settings(base, json{{key, text}}, "command line", notes);
  try {
    return merge_settings(base, json{{key, value}}, "command line", notes);
  } catch (const SettingsError&) {
    // "batch_name=2024" means the string; keep the first error when the string does not fit either.
    try {
      return merge_settings(base, json{{key, text}}, "command line", notes);
    } catch (const SettingsError&) {
    }
    throw;
  }
}

namespace {
// DD's file holds Python ints where the notebook used them (5000, not 5000.0).
nlohmann::ordered_json number(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) return static_cast<long long>(v);
  return v;
}
}  // namespace

nlohmann::ordered_json to_json(const Settings& s) {
  nlohmann::ordered_json j;
  // DD's saved-file order (dd-spec §12), without the animation/video keys.
  j["text_prompts"] = s.text_prompts.to_json();
  j["image_prompts"] = s.image_prompts.to_json();
  j["clip_guidance_scale"] = number(s.clip_guidance_scale);
  j["tv_scale"] = number(s.tv_scale);
  j["range_scale"] = number(s.range_scale);
  j["sat_scale"] = number(s.sat_scale);
  j["cutn_batches"] = s.cutn_batches;
  j["init_image"] = s.init_image ? nlohmann::ordered_json(*s.init_image) : nlohmann::ordered_json(nullptr);
  j["init_scale"] = number(s.init_scale);
  j["skip_steps"] = s.skip_steps;
  j["perlin_init"] = s.perlin_init;
  j["perlin_mode"] = s.perlin_mode;
  j["skip_augs"] = s.skip_augs;
  j["randomize_class"] = s.randomize_class;
  j["clip_denoised"] = s.clip_denoised;
  j["clamp_grad"] = s.clamp_grad;
  j["clamp_max"] = number(s.clamp_max);
  j["seed"] = s.seed ? nlohmann::ordered_json(*s.seed) : nlohmann::ordered_json(nullptr);
  j["fuzzy_prompt"] = s.fuzzy_prompt;
  j["rand_mag"] = number(s.rand_mag);
  j["eta"] = number(s.eta);
  j["width"] = s.width_height()[0];  // unrounded, as DD saves them
  j["height"] = s.width_height()[1];
  j["diffusion_model"] = s.diffusion_model;
  j["use_secondary_model"] = s.use_secondary_model;
  j["steps"] = s.steps;
  j["diffusion_steps"] = s.diffusion_steps();
  j["diffusion_sampling_mode"] = s.diffusion_sampling_mode;
  j["ViTB32"] = s.ViTB32;
  j["ViTB16"] = s.ViTB16;
  j["ViTL14"] = s.ViTL14;
  j["ViTL14_336px"] = s.ViTL14_336px;
  j["RN101"] = s.RN101;
  j["RN50"] = s.RN50;
  j["RN50x4"] = s.RN50x4;
  j["RN50x16"] = s.RN50x16;
  j["RN50x64"] = s.RN50x64;
  for (const auto& flag : kOpenClipFlags) j[flag] = false;
  j["cut_overview"] = s.cut_overview;
  j["cut_innercut"] = s.cut_innercut;
  j["cut_ic_pow"] = s.cut_ic_pow;
  j["cut_icgray_p"] = s.cut_icgray_p;
  j["use_horizontal_symmetry"] = s.use_horizontal_symmetry;
  j["use_vertical_symmetry"] = s.use_vertical_symmetry;
  j["transformation_percent"] = s.transformation_percent;
  // Settings DD keeps out of its file; saved so that a run can be repeated from the file alone.
  j["prompt_keys"] = prompt_keys_name(s.prompt_keys);
  j["batch_name"] = s.batch_name;
  j["n_batches"] = s.n_batches;
  j["batch_size"] = s.batch_size;
  j["display_rate"] = s.display_rate;
  if (s.intermediate_saves.steps) {
    j["intermediate_saves"] = *s.intermediate_saves.steps;
  } else {
    j["intermediate_saves"] = s.intermediate_saves.count;
  }
  j["intermediates_in_subfolder"] = s.intermediates_in_subfolder;
  j["set_seed"] = s.set_seed;
  j["use_checkpoint"] = s.use_checkpoint;
  j["check_model_SHA"] = s.check_model_SHA;
  j["custom_path"] = s.custom_path;
  j["width_height_for_512x512_models"] = s.width_height_for_512x512_models;
  j["width_height_for_256x256_models"] = s.width_height_for_256x256_models;
  return j;
}

std::string to_settings_text(const Settings& s) {
  // DD: json.dump(..., indent=4, ensure_ascii=False); nlohmann writes UTF-8 unescaped by default.
  return to_json(s).dump(4);
}

}  // namespace disco
