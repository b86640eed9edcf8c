// "text:weight" parsing and step-keyed prompt schedules, dd-spec §2.8 and §6.3.
#include "disco/prompts.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <set>
#include <sstream>

#include "common/error.h"
#include "common/strings.h"

namespace disco {
namespace {

std::string strip(const std::string& s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Python's float(str) for ASCII input; false when Python would raise ValueError.
bool python_float(const std::string& raw, double* out) {
  std::string s = strip(raw);
  std::size_t i = 0;
  std::string clean;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) clean += s[i++];
  std::string rest = lower(s.substr(i));
  if (rest == "inf" || rest == "infinity" || rest == "nan") {
    *out = std::strtod((clean + rest).c_str(), nullptr);
    return true;
  }
  // digitpart := digit (['_'] digit)*
  auto digitpart = [&](std::string* dst) {
    std::size_t n = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
      *dst += s[i++];
      ++n;
      if (i + 1 < s.size() && s[i] == '_' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) ++i;
    }
    return n;
  };
  std::size_t n_int = digitpart(&clean);
  std::size_t n_frac = 0;
  if (i < s.size() && s[i] == '.') {
    clean += s[i++];
    n_frac = digitpart(&clean);
  }
  if (n_int + n_frac == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    clean += s[i++];
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) clean += s[i++];
    if (digitpart(&clean) == 0) return false;
  }
  if (i != s.size()) return false;
  *out = std::strtod(clean.c_str(), nullptr);  // overflow gives +-inf, as Python does
  return true;
}

int64_t parse_key(const std::string& key, const std::string& setting) {
  std::string k = strip(key);
  bool ok = !k.empty() && k.size() <= 12;
  for (char c : k) ok = ok && std::isdigit(static_cast<unsigned char>(c));
  DISCO_CHECK(ok, SettingsError, "setting '", setting, "': the key \"", key,
              "\" is not a step number; keys must be integers >= 0, e.g. {\"0\": [\"a lighthouse:2\"], "
              "\"120\": [\"stormy sea\"]}.");
  return std::stoll(k);
}

PromptSet parse_list(const nlohmann::json& list, const std::string& setting, const std::string& where) {
  DISCO_CHECK(list.is_array(), SettingsError, "setting '", setting, "'", where,
              " must be a list of \"text:weight\" strings, but it is ", list.dump(), ".");
  PromptSet out;
  for (const auto& item : list) {
    DISCO_CHECK(item.is_string(), SettingsError, "setting '", setting, "'", where,
                ": every prompt must be a string such as \"a lighthouse:2\", but one is ", item.dump(), ".");
    out.push_back(parse_prompt(item.get<std::string>(), setting));
  }
  return out;
}

std::string format_weights(const std::vector<double>& w) {
  std::ostringstream os;
  for (std::size_t k = 0; k < w.size(); ++k) os << (k ? ", " : "") << w[k];
  return os.str();
}

}  // namespace

Prompt parse_prompt(const std::string& s, const std::string& setting) {
  Prompt p;
  p.original = s;
  std::string weight;
  bool has_weight = false;
  std::size_t last = s.rfind(':');
  if (starts_with(s, "http://") || starts_with(s, "https://")) {
    // rsplit(':', 2) then re-join the first two pieces: a weight exists only with 3 pieces.
    std::size_t second = last == std::string::npos || last == 0 ? std::string::npos : s.rfind(':', last - 1);
    has_weight = second != std::string::npos;
    if (has_weight) {
      // Python: vals[0] + ':' + vals[1] is everything before `last`, vals[2] the weight.
      p.text = s.substr(0, last);
      weight = s.substr(last + 1);
    }
  } else if (last != std::string::npos) {
    has_weight = true;
    p.text = s.substr(0, last);
    weight = s.substr(last + 1);
  }
  if (!has_weight) {
    p.text = s;
    return p;
  }
  DISCO_CHECK(python_float(weight, &p.weight), SettingsError, "setting '", setting, "': cannot read the weight of \"",
              s, "\": the text after its last ':' (\"", weight,
              "\") is not a number. DD splits a prompt at the last ':' and reads the rest as the weight; to keep "
              "a ':' inside a prompt, end it with a weight, e.g. \"",
              s, ":1\".");
  DISCO_CHECK(std::isfinite(p.weight), SettingsError, "setting '", setting, "': the weight of \"", s,
              "\" is not a finite number; use a number such as 1, 0.5 or -1.");
  return p;
}

PromptSchedule PromptSchedule::from_json(const nlohmann::json& j, const std::string& setting) {
  PromptSchedule out;
  if (j.is_null()) return out;
  if (j.is_string()) return single({j.get<std::string>()}, setting);
  if (j.is_array()) {
    out.entries_[0] = parse_list(j, setting, "");
    return out;
  }
  DISCO_CHECK(j.is_object(), SettingsError, "setting '", setting, "' must be a list of \"text:weight\" strings or ",
              "a map from step to such a list (e.g. {\"0\": [\"a lighthouse:2\"]}), but it is ", j.dump(), ".");
  for (auto it = j.begin(); it != j.end(); ++it) {
    int64_t step = parse_key(it.key(), setting);
    DISCO_CHECK(!out.entries_.count(step), SettingsError, "setting '", setting, "': step ", step,
                " appears twice (as \"", it.key(), "\"); keep one entry per step.");
    out.entries_[step] = parse_list(it.value(), setting, " at step " + it.key());
  }
  return out;
}

PromptSchedule PromptSchedule::single(const std::vector<std::string>& prompts, const std::string& setting) {
  PromptSchedule out;
  PromptSet set;
  for (const auto& s : prompts) set.push_back(parse_prompt(s, setting));
  out.entries_[0] = std::move(set);
  return out;
}

nlohmann::ordered_json PromptSchedule::to_json() const {
  nlohmann::ordered_json j = nlohmann::ordered_json::object();
  for (const auto& [step, set] : entries_) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const auto& p : set) list.push_back(p.original);
    j[std::to_string(step)] = std::move(list);
  }
  return j;
}

const PromptSet& PromptSchedule::at(int64_t step) const {
  static const PromptSet kEmpty;
  if (entries_.empty()) return kEmpty;
  auto it = entries_.upper_bound(step);  // first key > step
  if (it == entries_.begin()) return it->second;  // before the first key: DD's back-fill
  return std::prev(it)->second;
}

std::vector<int64_t> PromptSchedule::keys() const {
  std::vector<int64_t> out;
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

bool PromptSchedule::operator==(const PromptSchedule& o) const {
  if (entries_.size() != o.entries_.size()) return false;
  for (auto a = entries_.begin(), b = o.entries_.begin(); a != entries_.end(); ++a, ++b) {
    if (a->first != b->first || a->second.size() != b->second.size()) return false;
    for (std::size_t k = 0; k < a->second.size(); ++k)
      if (a->second[k].original != b->second[k].original) return false;
  }
  return true;
}

std::vector<double> normalize_weights(const std::vector<double>& weights, const std::string& context) {
  DISCO_CHECK(!weights.empty(), SettingsError, "there are no prompts in ", context,
              "; give at least one text prompt (\"a lighthouse:1\") or image prompt.");
  double sum = 0;
  for (double w : weights) sum += w;
  DISCO_CHECK(std::abs(sum) >= 1e-3, SettingsError, "the prompt weights in ", context, " (", format_weights(weights),
              ") sum to ", sum, ": they cancel out, and DD divides every weight by |sum|. Change one weight so "
              "that the sum is not 0 (e.g. make a negative weight smaller).");
  std::vector<double> out;
  out.reserve(weights.size());
  for (double w : weights) out.push_back(w / std::abs(sum));
  return out;
}

void check_prompt_weights(const PromptSchedule& text_prompts, const PromptSchedule& image_prompts,
                          bool fuzzy_prompt) {
  std::set<int64_t> keys;
  for (int64_t k : text_prompts.keys()) keys.insert(k);
  for (int64_t k : image_prompts.keys()) keys.insert(k);
  DISCO_CHECK(!keys.empty(), SettingsError,
              "there are no prompts: set 'text_prompts' (e.g. \"a lighthouse in a storm:2\") or 'image_prompts'.");
  for (int64_t step : keys) {
    std::vector<double> w;
    for (const auto& p : text_prompts.at(step))
      for (int c = 0; c < (fuzzy_prompt ? kFuzzyCopies : 1); ++c) w.push_back(p.weight);
    for (const auto& p : image_prompts.at(step))
      for (int c = 0; c < kImagePromptCuts; ++c) w.push_back(p.weight / kImagePromptCuts);
    std::string context = "force from step " + std::to_string(step);
    // Report the user's weights, not the expanded per-target list.
    try {
      normalize_weights(w, context);
    } catch (const SettingsError&) {
      std::vector<double> user;
      std::vector<std::string> names;
      for (const auto& p : text_prompts.at(step)) user.push_back(p.weight);
      for (const auto& p : image_prompts.at(step)) user.push_back(p.weight);
      if (user.empty()) throw;
      std::ostringstream os;
      for (const auto& p : text_prompts.at(step)) os << (os.tellp() > 0 ? ", " : "") << '"' << p.original << '"';
      for (const auto& p : image_prompts.at(step)) os << (os.tellp() > 0 ? ", " : "") << '"' << p.original << '"';
      throw SettingsError(detail::concat(
          "the prompt weights in force from step ", step, " cancel out: ", os.str(), " have weights ",
          format_weights(user), ", whose sum is (nearly) 0, and DD divides every weight by |sum|. Change one "
          "weight so that the sum is not 0."));
    }
  }
}

}  // namespace disco
