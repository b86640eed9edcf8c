// Settings: DD's defaults, what the settings mean (sizes, cut schedules, CLIP models) and their
// validation. Reading and writing DD's keys is in settings_file.cpp.
#include "disco/settings.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <set>

#include "common/error.h"
#include "disco/schedule_string.h"
#include "disco/settings_internal.h"

namespace disco {

using json = nlohmann::json;
using settings_detail::join;
using settings_detail::parse_seed_text;

namespace {

constexpr int kMaxSide = 16384;  // sanity bound; DD itself has none

const std::vector<std::string> kModels256 ={
    "256x256_diffusion_uncond",   "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256",
    "pixel_art_diffusion_soft_256", "pixelartdiffusion4k",      "watercolordiffusion_2",
    "watercolordiffusion",        "PulpSciFiDiffusion"};
const std::set<std::string> kPixelArtModels ={
    "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
    "pixelartdiffusion4k", "PulpSciFiDiffusion"};
const std::set<std::string> kWatercolorModels ={"watercolordiffusion_2", "watercolordiffusion"};

// ---- checks ----

[[noreturn]] void range_error(const std::string& key, const std::string& value, const std::string& allowed) {
  throw SettingsError(detail::concat("setting '", key, "' is ", value, ", but it must be ", allowed, "."));
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

void check_at_least(const std::string& key, double v, double lo, const std::string& why = "") {
  if (!(std::isfinite(v) && v >= lo)) range_error(key, num(v), "a number >= " + num(lo) + why);
}

void check_int_at_least(const std::string& key, long long v, long long lo, const std::string& why = "") {
  if (v < lo) range_error(key, std::to_string(v), "an integer >= " + std::to_string(lo) + why);
}

void check_choice(const std::string& key, const std::string& v, const std::vector<std::string>& choices) {
  if (std::find(choices.begin(), choices.end(), v) == choices.end())
    range_error(key, "'" + v + "'", "one of " + join(choices));
}

void check_side(const std::string& key, int v) {
  if (v < 64 || v > kMaxSide)
    range_error(key, std::to_string(v),
                "from 64 to " + std::to_string(kMaxSide) + " (DD rounds sizes down to a multiple of 64)");
}

void check_cut_schedule(const std::string& key, const std::string& text, bool counts, bool probability) {
  for (double v : parse_cut_schedule(text, key)) {
    if (counts && !(v >= 0 && v == std::floor(v)))
      range_error(key, "\"" + text + "\" (it contains " + num(v) + ")",
                  "a schedule of whole numbers >= 0 (cut counts)");
    if (probability && !(v >= 0 && v <= 1))
      range_error(key, "\"" + text + "\" (it contains " + num(v) + ")", "a schedule of probabilities in [0, 1]");
  }
}

std::vector<double> with_override(const Settings& s, const std::string& user, const char* pixel_art,
                                  const char* watercolor, const std::string& key) {
  // QUIRK(dd-spec §2.7): DD silently replaces the user's cut schedules for these models.
  if (kPixelArtModels.count(s.diffusion_model)) return parse_cut_schedule(pixel_art, key);
  if (kWatercolorModels.count(s.diffusion_model) && watercolor) return parse_cut_schedule(watercolor, key);
  return parse_cut_schedule(user, key);
}

constexpr const char* kPixelIcPow = "[12]*300+[12]*100+[12]*50+[12]*50+[10]*100+[10]*100+[10]*300";

}  // namespace

namespace settings_detail {

uint32_t parse_seed_text(const std::string& text, const std::string& key) {
  bool digits = !text.empty() && text.size() <= 10 &&
                std::all_of(text.begin(), text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
  unsigned long long n = digits ? std::stoull(text) : 0;
  DISCO_CHECK(digits && n <= 0xFFFFFFFFull, SettingsError, "setting '", key, "' is \"", text,
              "\"; it must be 'random_seed' or an integer seed from 0 to 4294967295 (DD seeds numpy, which "
              "takes 32-bit seeds).");
  return static_cast<uint32_t>(n);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

}  // namespace settings_detail

const std::vector<std::pair<std::string, std::string>>& clip_model_flags() {
  static const std::vector<std::pair<std::string, std::string>> flags = {
      {"ViTB32", "ViT-B/32"}, {"ViTB16", "ViT-B/16"}, {"ViTL14", "ViT-L/14"},   {"ViTL14_336px", "ViT-L/14@336px"},
      {"RN50", "RN50"},       {"RN50x4", "RN50x4"},   {"RN50x16", "RN50x16"}, {"RN50x64", "RN50x64"},
      {"RN101", "RN101"}};
  return flags;
}

const std::vector<std::string>& diffusion_model_choices() {
  static const std::vector<std::string> choices = {
      "256x256_diffusion_uncond",   "512x512_diffusion_uncond_finetune_008100", "portrait_generator_v001",
      "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256",             "pixel_art_diffusion_soft_256",
      "pixelartdiffusion4k",        "watercolordiffusion_2",                    "watercolordiffusion",
      "PulpSciFiDiffusion",         "custom"};
  return choices;
}

bool Settings::uses_256_model() const {
  return std::find(kModels256.begin(), kModels256.end(), diffusion_model) != kModels256.end();
}

std::array<int, 2> Settings::width_height() const {
  const auto& model_default = uses_256_model() ? width_height_for_256x256_models : width_height_for_512x512_models;
  return {width.value_or(model_default[0]), height.value_or(model_default[1])};
}

std::optional<int> Settings::steps_per_checkpoint() const {
  if (intermediate_saves.steps) return std::nullopt;
  if (intermediate_saves.count == 0) return steps + 10;  // never triggers
  return std::max(1, (steps - skip_steps - 1) / (intermediate_saves.count + 1));
}

std::vector<std::string> Settings::clip_model_names() const {
  const bool on[] = {ViTB32, ViTB16, ViTL14, ViTL14_336px, RN50, RN50x4, RN50x16, RN50x64, RN101};
  std::vector<std::string> out;
  for (std::size_t k = 0; k < clip_model_flags().size(); ++k)
    if (on[k]) out.push_back(clip_model_flags()[k].second);
  return out;
}

std::vector<double> Settings::cut_overview_schedule() const {
  return with_override(*this, cut_overview,
                       "[15]*100+[15]*100+[12]*100+[12]*100+[6]*100+[4]*100+[2]*200+[0]*200",
                       "[14]*200+[12]*200+[4]*400+[0]*200", "cut_overview");
}
std::vector<double> Settings::cut_innercut_schedule() const {
  return with_override(*this, cut_innercut, "[1]*100+[1]*100+[4]*100+[4]*100+[8]*100+[8]*100+[10]*200+[10]*200",
                       "[2]*200+[4]*200+[12]*400+[12]*200", "cut_innercut");
}
std::vector<double> Settings::cut_ic_pow_schedule() const {
  return with_override(*this, cut_ic_pow, kPixelIcPow, kPixelIcPow, "cut_ic_pow");
}
std::vector<double> Settings::cut_icgray_p_schedule() const {
  return with_override(*this, cut_icgray_p,
                       "[0.87]*100+[0.78]*50+[0.73]*50+[0.64]*60+[0.56]*40+[0.50]*50+[0.33]*100+[0.19]*150+[0]*400",
                       "[0.7]*100+[0.6]*100+[0.45]*100+[0.3]*100+[0]*600", "cut_icgray_p");
}

const char* prompt_keys_name(PromptKeys k) { return k == PromptKeys::Frame ? "frame" : "step"; }

namespace {
// DD's per-frame series, back-filled, at frame 0: the first entry.
PromptSchedule frame_zero(const PromptSchedule& p) {
  PromptSchedule out;
  if (!p.empty()) out.set(0, p.at(0));
  return out;
}
}  // namespace

PromptSchedule Settings::still_text_prompts() const {
  return prompt_keys == PromptKeys::Frame ? frame_zero(text_prompts) : text_prompts;
}
PromptSchedule Settings::still_image_prompts() const {
  return prompt_keys == PromptKeys::Frame ? frame_zero(image_prompts) : image_prompts;
}

void Settings::validate() const {
  check_choice("diffusion_model", diffusion_model, diffusion_model_choices());
  if (diffusion_model == "custom" && custom_path.empty())
    range_error("custom_path", "empty", "the path of the checkpoint to use with diffusion_model 'custom'");
  check_choice("diffusion_sampling_mode", diffusion_sampling_mode, {"ddim", "plms"});
  DISCO_CHECK(!clip_model_names().empty(), SettingsError,
              "no CLIP model is selected; guidance needs at least one: set one of ViTB32, ViTB16, ViTL14, "
              "ViTL14_336px, RN50, RN50x4, RN50x16, RN50x64, RN101 to true (or clip_models=ViT-B/32,...).");
  if (batch_name.empty() || batch_name == "." || batch_name == ".." ||
      batch_name.find_first_of("/\\") != std::string::npos)
    range_error("batch_name", "'" + batch_name + "'",
                "a non-empty folder name without '/' or '\\' (it names the output folder and files)");
  check_int_at_least("steps", steps, 1);
  auto wh = width_height();
  check_side(width ? "width" : (uses_256_model() ? "width_height_for_256x256_models[0]" : "width_height_for_512x512_models[0]"), wh[0]);
  check_side(height ? "height" : (uses_256_model() ? "width_height_for_256x256_models[1]" : "width_height_for_512x512_models[1]"), wh[1]);
  for (int k = 0; k < 2; ++k) {
    check_side("width_height_for_512x512_models[" + std::to_string(k) + "]", width_height_for_512x512_models[k]);
    check_side("width_height_for_256x256_models[" + std::to_string(k) + "]", width_height_for_256x256_models[k]);
  }
  check_at_least("clip_guidance_scale", clip_guidance_scale, 0);
  check_at_least("tv_scale", tv_scale, 0);
  check_at_least("range_scale", range_scale, 0);
  check_at_least("sat_scale", sat_scale, 0);
  check_int_at_least("cutn_batches", cutn_batches, 1);
  check_at_least("init_scale", init_scale, 0);
  if (skip_steps < 0 || skip_steps >= steps)
    range_error("skip_steps", std::to_string(skip_steps),
                "an integer from 0 to steps - 1 = " + std::to_string(steps - 1));
  if (intermediate_saves.steps) {
    for (int j : *intermediate_saves.steps) check_int_at_least("intermediate_saves", j, 0, " (step numbers)");
  } else {
    check_int_at_least("intermediate_saves", intermediate_saves.count, 0, " (0 saves none) or a list of steps");
  }
  check_choice("perlin_mode", perlin_mode, {"mixed", "color", "gray"});
  if (set_seed != "random_seed") parse_seed_text(set_seed, "set_seed");
  check_at_least("eta", eta, 0, " (0 = deterministic DDIM, 1 = DDPM-like)");
  if (!(std::isfinite(clamp_max) && clamp_max > 0)) range_error("clamp_max", num(clamp_max), "a number > 0");
  check_at_least("rand_mag", rand_mag, 0);
  for (double p : transformation_percent)
    if (!(p >= 0 && p <= 1)) range_error("transformation_percent", num(p), "a list of fractions in [0, 1]");
  check_int_at_least("display_rate", display_rate, 1);
  check_int_at_least("n_batches", n_batches, 1);
  check_int_at_least("batch_size", batch_size, 1);
  check_cut_schedule("cut_overview", cut_overview, true, false);
  check_cut_schedule("cut_innercut", cut_innercut, true, false);
  check_cut_schedule("cut_ic_pow", cut_ic_pow, false, false);
  check_cut_schedule("cut_icgray_p", cut_icgray_p, false, true);
  check_prompt_weights(text_prompts, image_prompts, fuzzy_prompt);
}

uint32_t resolve_seed(const Settings& s) {
  if (s.seed) return *s.seed;
  if (s.set_seed != "random_seed") return parse_seed_text(s.set_seed, "set_seed");
  // DD draws from [0, 2^32] inclusive and crashes on 2^32 (dd-spec §15.23); this stays within 32 bits.
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist(0, 0xFFFFFFFFu);
  return dist(rd);
}

bool operator==(const Settings& a, const Settings& b) {
  // to_json holds every setting (prompts by their original strings, the size as resolved).
  return to_json(a).dump() == to_json(b).dump();
}

}  // namespace disco
