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
#include "disco/settings_table.h"
#include "disco/settings_yaml.h"

namespace disco {

using json = nlohmann::json;
using settings_detail::join;
using settings_detail::parse_seed_text;

namespace {

// The keys only DD's save_settings writes (its animation, 3D, video and resume settings): they
// mark a file as DD's, and those this port does not take yet are read and ignored.
const std::vector<std::string> kDDKeys = {
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
  for (const auto& spec : settings_table().specs()) consider(spec.key);
  return best;
}

}  // namespace

Settings merge_settings(const Settings& base, const json& j, const std::string& source,
                        std::vector<std::string>* notes) {
  return merge_settings_with(settings_table(), base, j, source, notes);
}

Settings merge_settings_with(const SettingsTable& table, const Settings& base, const json& j,
                             const std::string& source, std::vector<std::string>* notes) {
  DISCO_CHECK(j.is_object(), SettingsError, source, ": settings must be a JSON object of DD setting names and values ",
              "(e.g. {\"steps\": 100}), but it is ", j.is_array() ? "a list" : j.type_name(), ".");
  Settings s = base;
  std::vector<std::string> local_notes;
  std::vector<std::string> ignored;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const SettingSpec* spec = table.find(key);
    if (!spec && std::find(kDDKeys.begin(), kDDKeys.end(), key) != kDDKeys.end()) {
      ignored.push_back(key);
      continue;
    }
    if (!spec) {
      std::string hint = closest_key(key);
      throw SettingsError(detail::concat(source, ": unknown setting '", key, "'",
                                         hint.empty() ? "" : "; did you mean '" + hint + "'?",
                                         hint.empty() ? "." : "",
                                         " docs/settings.md lists every setting (DD's names are used)."));
    }
    try {
      spec->read(s, it.value(), local_notes);
    } catch (const SettingsError& e) {
      throw SettingsError(source + ": " + e.what());
    }
  }
  if (!ignored.empty())
    local_notes.push_back("ignored DD settings for video input (not built into disco-cpp yet): " +
                          join(ignored) + ".");
  for (const char* derived : {"diffusion_steps", "timestep_respacing"}) {
    if (!j.contains(derived)) continue;
    json expected = std::string(derived) == "diffusion_steps" ? json(s.diffusion_steps()) : json(s.timestep_respacing());
    if (j[derived] != expected)
      local_notes.push_back(std::string(derived) + " is derived from steps: " + j[derived].dump() +
                            " in the file is replaced by " + expected.dump() + ".");
  }
  try {
    validate_with(table, s);
  } catch (const SettingsError& e) {
    throw SettingsError(source + ": " + e.what());
  }
  if (notes) notes->insert(notes->end(), local_notes.begin(), local_notes.end());
  return s;
}

namespace {

bool yaml_name(const std::string& path) {
  const auto dot = path.rfind('.');
  const std::string ext = dot == std::string::npos ? "" : path.substr(dot);
  return ext == ".yml" || ext == ".yaml" || ext == ".YML" || ext == ".YAML";
}

// A settings file's text as JSON: JSON where it starts as JSON (DD's *_settings.txt, ours), YAML
// where it is named .yml/.yaml or does not start with '{' (ours or discoart's).
json parse_settings_text(const std::string& path, const std::string& text, const std::string& source,
                         std::vector<std::string>* notes) {
  const size_t start = text.find_first_not_of(" \t\r\n\xEF\xBB\xBF");
  const bool json_text = start != std::string::npos && (text[start] == '{' || text[start] == '[');
  if (yaml_name(path) || !json_text) return from_discoart(yaml_to_json(text, source), source, notes);
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    throw SettingsError(detail::concat(source, " is not valid JSON (byte ", e.byte, "): ", e.what(), "."));
  }
}

}  // namespace

Settings load_settings_file(const std::string& path, const Settings& base, std::vector<std::string>* notes) {
  std::ifstream in(path, std::ios::binary);
  DISCO_CHECK(in, SettingsError, "cannot open the settings file '", path, "'; check the path.");
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string source = "settings file '" + path + "'";
  json j = parse_settings_text(path, buffer.str(), source, notes);
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
  return std::any_of(kDDKeys.begin(), kDDKeys.end(), [&](const std::string& k) { return j.contains(k); });
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

nlohmann::ordered_json to_json(const Settings& s) { return to_json_with(settings_table(), s); }

nlohmann::ordered_json to_json_with(const SettingsTable& table, const Settings& s) {
  nlohmann::ordered_json j;
  for (const auto& spec : table.specs())
    if (spec.saved) j[spec.key] = spec.write(s);
  return j;
}

std::string to_settings_text(const Settings& s) {
  // DD: json.dump(..., indent=4, ensure_ascii=False); nlohmann writes UTF-8 unescaped by default.
  return to_json(s).dump(4);
}

}  // namespace disco
