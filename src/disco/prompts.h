// Prompt schedules: "text:weight" strings keyed by the sampler step from which they apply
// (dd-spec §2.8, §6.3). DD keys its prompt dicts by animation frame; for still images this port
// reads the keys as steps, so a user can add a direction from step 120 on.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace disco {

struct Prompt {
  std::string original;  // the string as the user wrote it, ":weight" included
  std::string text;      // the part before the weight (an image path or URL for image prompts)
  double weight = 1.0;

  // QUIRK(dd-spec §2.8): DD tokenises the original string, ":weight" suffix included, not `text`.
  const std::string& text_to_encode() const { return original; }
};

// DD's parse_prompt: for http(s):// URLs, split on the last two ':' and re-join the scheme;
// otherwise split on the last ':' only. No ':' -> weight 1. The weight is Python's float() of
// the rest (sign, decimals, exponent, surrounding whitespace, '_' between digits). Anything
// else after the last ':' is an error, as in DD (write "a: b:1" to keep a ':' in a prompt).
// `setting` names the setting in error messages. Non-finite weights (nan, inf) are rejected.
Prompt parse_prompt(const std::string& s, const std::string& setting = "text_prompts");

using PromptSet = std::vector<Prompt>;

class PromptSchedule {
 public:
  // Reads DD's form {"0": ["a:2", "b"], "120": [...]} (keys are step numbers as strings or
  // integers >= 0), a plain list (= {0: list}) or a single string (= {0: [string]}).
  static PromptSchedule from_json(const nlohmann::json& j, const std::string& setting);
  // {0: prompts}.
  static PromptSchedule single(const std::vector<std::string>& prompts, const std::string& setting);

  // DD's form, {"0": [original strings...], ...}.
  nlohmann::ordered_json to_json() const;

  // The set in force at `step`: the entry with the greatest key <= step. Before the first key,
  // the first entry (DD back-fills its per-frame series). Empty when there are no entries.
  const PromptSet& at(int64_t step) const;

  std::vector<int64_t> keys() const;
  bool empty() const { return entries_.empty(); }
  const std::map<int64_t, PromptSet>& entries() const { return entries_; }
  void set(int64_t step, PromptSet prompts) { entries_[step] = std::move(prompts); }

  bool operator==(const PromptSchedule& o) const;
  bool operator!=(const PromptSchedule& o) const { return !(*this == o); }

 private:
  std::map<int64_t, PromptSet> entries_;
};

// dd-spec §6.3: divides each weight by |sum|, keeping signs. `weights` are the per-target weights
// of one CLIP model in target order (text first, then image prompts). When |sum| < 1e-3 throws
// disco::SettingsError saying the weights cancel out; `context` (e.g. "the prompts at step 0")
// goes into the message.
std::vector<double> normalize_weights(const std::vector<double>& weights, const std::string& context);

// Checks, before any model is loaded, that the weights of every prompt combination a run can meet
// (text and image sets at every key of either schedule) do not cancel out, with the target
// weights DD builds: 25 copies per text prompt with fuzzy_prompt, 16 cuts of w/16 per image.
void check_prompt_weights(const PromptSchedule& text_prompts, const PromptSchedule& image_prompts,
                          bool fuzzy_prompt);

// Number of noisy copies of each text target with fuzzy_prompt (dd-spec §6.1).
constexpr int kFuzzyCopies = 25;
// Number of cuts (targets) per image prompt, each with weight w/16 (dd-spec §6.2).
constexpr int kImagePromptCuts = 16;

}  // namespace disco
