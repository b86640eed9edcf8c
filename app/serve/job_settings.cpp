#include "job_settings.h"

#include <regex>

#include "common/error.h"
#include "disco/settings_table.h"

namespace disco::serve {
namespace {

// Settings the server decides: the resume keys (it resumes interrupted jobs itself).
const std::vector<std::string>& server_owned_keys() {
  static const std::vector<std::string> keys = {"resume_run", "run_to_resume", "resume_from_frame",
                                                "retain_overwritten_frames"};
  return keys;
}

bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Init image and image prompts: each must be an upload's id; no server paths, no URLs fetched.
void check_job_inputs(const Settings& s, const Settings& base, const UploadExists& upload_exists,
                      const std::string& server_model) {
  const auto check = [&](const std::string& key, const std::string& name) {
    if (!is_upload_id(name) || !upload_exists(name))
      throw BadRequest{key + ": '" + name + "' is not an uploaded image; upload it (POST /api/uploads) and give its id "
                       "(the server reads no other files and fetches no URLs).", key};
  };
  if (s.init_image) check("init_image", *s.init_image);
  for (const auto& [step, prompts] : s.image_prompts.entries())
    for (const auto& p : prompts) check("image_prompts", p.text);
  if (s.custom_path != base.custom_path && (server_model.empty() || s.custom_path != server_model))
    throw BadRequest{"custom_path names a file on the server; start the server with --model instead.", "custom_path"};
  for (const char c : s.batch_name)
    if (c == '/' || c == '\\' || c == '\0')
      throw BadRequest{"batch_name is part of file names: it cannot hold '/' or '\\'.", "batch_name"};
  if (s.batch_name.empty() || s.batch_name == "." || s.batch_name == "..")
    throw BadRequest{"batch_name cannot be empty, '.' or '..'.", "batch_name"};
}

}  // namespace

nlohmann::json parse_request_json(const std::string& body, int max_depth) {
  bool too_deep = false;
  const nlohmann::json::parser_callback_t bound = [&](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth > max_depth) too_deep = true;
    return !too_deep;
  };
  const auto j = nlohmann::json::parse(body, bound, /*allow_exceptions=*/false);
  if (too_deep) throw BadRequest{"the JSON nests deeper than " + std::to_string(max_depth) + " levels.", ""};
  if (j.is_discarded()) throw BadRequest{"the request body is not valid JSON.", ""};
  return j;
}

bool is_upload_id(const std::string& id) {
  static const std::regex pattern("[0-9a-f]{16}\\.(png|jpg)");
  return std::regex_match(id, pattern);
}

std::string setting_named_in(const std::string& message) {
  std::string best;
  for (const auto& spec : settings_table().specs()) {
    const std::string& k = spec.key;
    for (size_t at = message.find(k); at != std::string::npos; at = message.find(k, at + 1)) {
      const bool starts = at == 0 || !is_word_char(message[at - 1]);
      const bool ends = at + k.size() == message.size() || !is_word_char(message[at + k.size()]);
      if (starts && ends && k.size() > best.size()) best = k;
    }
  }
  return best;
}

Settings job_settings(const Settings& base, const nlohmann::json& j, const UploadExists& upload_exists,
                      const std::string& server_model) {
  if (!j.is_object()) throw BadRequest{"settings must be a JSON object of DD-named keys.", ""};
  for (const auto& key : server_owned_keys())
    if (j.contains(key)) throw BadRequest{key + " is set by the server: it resumes interrupted jobs itself.", key};
  nlohmann::json merged = j;
  if (is_dd_settings_file(merged)) merged["prompt_keys"] = "frame";  // as load_settings_file reads DD's files
  Settings s;
  try {
    s = merge_settings_with(settings_table(), base, merged, "settings");
    s.validate();
  } catch (const SettingsError& e) {
    throw BadRequest{e.what(), setting_named_in(e.what())};
  }
  check_job_inputs(s, base, upload_exists, server_model);
  if (!s.seed) s.seed = resolve_seed(s);
  return s;
}

int job_total(const Settings& s) {
  return s.animation_mode == AnimationMode::None ? s.n_batches : s.max_frames;
}

nlohmann::json settings_table_json(const Settings& base) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& spec : settings_table().specs()) {
    nlohmann::json e = {{"key", spec.key},     {"group", spec.group},     {"type", setting_type_name(spec.type)},
                        {"help", spec.help},   {"allowed", spec.allowed}, {"choices", spec.choices},
                        {"saved", spec.saved}, {"flag", spec.flag}};
    e["default"] = spec.write(base);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace disco::serve
