// YAML settings: yaml-cpp parses, the scalars are typed as PyYAML types them, and discoart's keys
// are put in DD's terms.
#include "disco/settings_yaml.h"

#include <algorithm>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "common/error.h"
#include "disco/settings.h"

#ifdef DISCO_HAVE_YAML
#include <yaml-cpp/yaml.h>
#endif

namespace disco {
using json = nlohmann::json;

namespace {

// YAML forbids tabs in indentation; yaml-cpp's own message for them is obscure.
void check_no_tab_indent(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    ++n;
    const size_t first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line.substr(0, first).find('\t') != std::string::npos)
      throw SettingsError(detail::concat(source, ": line ", n,
                                         " is indented with a tab; YAML indents with spaces only."));
  }
}

// PyYAML's (YAML 1.1) implicit scalar types.
json typed_scalar(const std::string& v) {
  static const std::set<std::string> nulls = {"", "~", "null", "Null", "NULL"};
  static const std::set<std::string> trues = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
  static const std::set<std::string> falses = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
  static const std::regex integer(R"([-+]?(0|[1-9][0-9_]*))");
  static const std::regex floating(R"([-+]?([0-9][0-9_]*)?\.[0-9_]*([eE][-+][0-9]+)?)");
  if (nulls.count(v)) return nullptr;
  if (trues.count(v)) return true;
  if (falses.count(v)) return false;
  std::string digits = v;
  digits.erase(std::remove(digits.begin(), digits.end(), '_'), digits.end());
  if (std::regex_match(v, integer) && digits.size() < 19) return std::stoll(digits);
  if (std::regex_match(v, floating) && v != "." && v.find_first_of("0123456789") != std::string::npos)
    return std::stod(digits);
  return v;
}

#ifdef DISCO_HAVE_YAML
json to_json(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return n.Tag() == "!" ? json(n.Scalar()) : typed_scalar(n.Scalar());  // "!": quoted
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : n) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : n) out[kv.first.as<std::string>()] = to_json(kv.second);
      return out;
    }
  }
  return nullptr;
}
#endif

}  // namespace

#ifdef DISCO_HAVE_YAML
bool have_yaml_support() { return true; }

json yaml_to_json(const std::string& text, const std::string& source) {
  check_no_tab_indent(text, source);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw SettingsError(detail::concat(source, " is not valid YAML (line ", e.mark.line + 1, ", column ",
                                       e.mark.column + 1, "): ", e.msg, "."));
  }
  const json j = to_json(root);
  return j.is_null() ? json::object() : j;
}
#else
bool have_yaml_support() { return false; }

json yaml_to_json(const std::string&, const std::string& source) {
  throw SettingsError(source + " is YAML, and this disco was built without YAML support: install libyaml-cpp-dev "
                               "and build again, or write the settings as JSON.");
}
#endif

namespace {

// Keys only discoart writes: they mark a discoart file. Those with a DD meaning are mapped below.
const std::set<std::string> kDiscoartOnly = {
    "save_rate", "gif_fps", "gif_size_ratio", "clip_models_schedules", "on_misspelled_token",
    "diffusion_model_config", "init_document", "cut_schedules_group", "name_docarray", "skip_event", "stop_event",
    "text_clip_on_cpu", "truncate_overlength_prompt", "image_output", "visualize_cuts", "clip_sequential_evaluate"};

// discoart's "<name>::<pretrained>" CLIP names: OpenAI's map to their names here, DD's thirteen
// OpenCLIP models are named so here too.
std::string clip_name(const json& v, const std::string& source) {
  static const std::map<std::string, std::string> names = {
      {"ViT-B-32::openai", "ViT-B/32"}, {"ViT-B-16::openai", "ViT-B/16"},         {"ViT-L-14::openai", "ViT-L/14"},
      {"ViT-L-14-336::openai", "ViT-L/14@336px"}, {"RN50::openai", "RN50"},     {"RN101::openai", "RN101"},
      {"RN50x4::openai", "RN50x4"},     {"RN50x16::openai", "RN50x16"},           {"RN50x64::openai", "RN50x64"}};
  const std::string name = v.is_string() ? v.get<std::string>() : v.dump();
  const auto it = names.find(name);
  if (it != names.end()) return it->second;
  for (const auto& flag_name : clip_model_flags())
    if (flag_name.second == name) return name;
  throw SettingsError(detail::concat(
      source, ": clip_models names '", name,
      "', which disco-cpp does not have (it has OpenAI's CLIP models: ViT-B-32::openai, ViT-B-16::openai, "
      "ViT-L-14::openai, ViT-L-14-336::openai, RN50::openai, RN101::openai, RN50x4::openai, RN50x16::openai, "
      "RN50x64::openai, and DD's OpenCLIP models, e.g. ViT-B-32::laion2b_e16: see disco models list)."));
}

}  // namespace

json from_discoart(json j, const std::string& source, std::vector<std::string>* notes) {
  if (!j.is_object() || std::none_of(kDiscoartOnly.begin(), kDiscoartOnly.end(), [&](const auto& k) { return j.contains(k); }))
    return j;
  json out = json::object();
  std::vector<std::string> dropped;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (v.is_null() && key != "init_image") continue;  // discoart: null is "the default"
    if (key == "save_rate") out["display_rate"] = v;     // discoart saves every save_rate steps, as DD's display_rate
    else if (key == "truncate_overlength_prompt") out["truncate_prompts"] = v;
    else if (key == "gif_fps" || key == "gif_size_ratio") {
      if (v != 0) out[key] = v;  // discoart's gif_fps 0 (no GIF) is disco-cpp's default: --gif off
    }
    else if (key == "display_rate" || kDiscoartOnly.count(key)) dropped.push_back(key);
    else if (key == "cut_ic_pow" && v.is_number()) out[key] = "[" + v.dump() + "]*1000";
    else if (key == "clip_models" && v.is_array()) {
      json names = json::array();
      for (const auto& c : v) names.push_back(clip_name(c, source));
      out[key] = names;
    } else out[key] = v;
  }
  if (notes && !dropped.empty()) {
    std::string list;
    for (const auto& k : dropped) list += (list.empty() ? "" : ", ") + k;
    notes->push_back(source + " is discoart's: these of its settings are not supported and are ignored: " + list +
                     " (its save_rate is DD's display_rate, truncate_overlength_prompt is truncate_prompts).");
  }
  return out;
}

}  // namespace disco
