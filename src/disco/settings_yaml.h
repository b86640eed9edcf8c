// Settings files in YAML (yaml-cpp, an optional component): the same keys and checks as the JSON
// form, plus discoart's YAML, whose key names mostly are DD's (dd-spec §2) and whose few others
// are mapped or listed as not supported.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace disco {

bool have_yaml_support();

// The YAML text as the JSON object merge_settings takes. Scalars are typed as PyYAML types them
// (discoart's files are written for it): null, booleans (true/yes/on...), integers, floats,
// strings. Throws SettingsError naming `source` and the line for a syntax error or an indent by
// tab, and when this build has no YAML support.
nlohmann::json yaml_to_json(const std::string& text, const std::string& source);

// A discoart settings file (it holds a key only discoart writes, e.g. name_docarray or gif_fps) in
// DD's terms: clip_models' "ViT-B-32::openai" names, a numeric cut_ic_pow, save_rate as DD's
// display_rate, truncate_overlength_prompt as truncate_prompts, gif_fps and gif_size_ratio kept
// (they shape the GIF --gif writes), nulls meaning "the default";
// discoart-only keys are dropped and listed in `notes`.
// Other objects come back unchanged. Throws SettingsError for a clip model disco-cpp does not have.
nlohmann::json from_discoart(nlohmann::json j, const std::string& source, std::vector<std::string>* notes);

}  // namespace disco
