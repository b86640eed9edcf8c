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
#include "disco/settings_table.h"

namespace disco {

using json = nlohmann::json;
using settings_detail::join;
using settings_detail::parse_seed_text;

namespace {

const std::vector<std::string> kModels256 ={
    "256x256_diffusion_uncond",   "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256",
    "pixel_art_diffusion_soft_256", "pixelartdiffusion4k",      "watercolordiffusion_2",
    "watercolordiffusion",        "PulpSciFiDiffusion"};
const std::set<std::string> kPixelArtModels ={
    "pixelartdiffusion_expanded", "pixel_art_diffusion_hard_256", "pixel_art_diffusion_soft_256",
    "pixelartdiffusion4k", "PulpSciFiDiffusion"};
const std::set<std::string> kWatercolorModels ={"watercolordiffusion_2", "watercolordiffusion"};

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

int parse_percent(const std::string& text, const std::string& key) {
  std::string t = text;
  t.erase(0, t.find_first_not_of('%'));  // DD: int(text.strip('%'))
  t.erase(t.find_last_not_of('%') + 1);
  const auto first = t.find_first_not_of(" \t"), last = t.find_last_not_of(" \t");
  t = first == std::string::npos ? "" : t.substr(first, last - first + 1);
  const bool digits = !t.empty() && t.size() <= 3 && std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; });
  const int v = digits ? std::stoi(t) : -1;
  DISCO_CHECK(v >= 0 && v < 100, SettingsError, "setting '", key, "' is \"", text,
              "\", but it must be a whole percentage from 0% to 99%, e.g. \"60%\".");
  return v;
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
      {"RN101", "RN101"},
      // DD's OpenCLIP flags (dd-spec §2.1), in the order DD appends the models.
      {"ViTB32_laion2b_e16", "ViT-B-32::laion2b_e16"},
      {"ViTB32_laion400m_e31", "ViT-B-32::laion400m_e31"},
      {"ViTB32_laion400m_32", "ViT-B-32::laion400m_e32"},
      {"ViTB32quickgelu_laion400m_e31", "ViT-B-32-quickgelu::laion400m_e31"},
      {"ViTB32quickgelu_laion400m_e32", "ViT-B-32-quickgelu::laion400m_e32"},
      {"ViTB16_laion400m_e31", "ViT-B-16::laion400m_e31"},
      {"ViTB16_laion400m_e32", "ViT-B-16::laion400m_e32"},
      {"RN50_yffcc15m", "RN50::yfcc15m"},
      {"RN50_cc12m", "RN50::cc12m"},
      {"RN50_quickgelu_yfcc15m", "RN50-quickgelu::yfcc15m"},
      {"RN50_quickgelu_cc12m", "RN50-quickgelu::cc12m"},
      {"RN101_yfcc15m", "RN101::yfcc15m"},
      {"RN101_quickgelu_yfcc15m", "RN101-quickgelu::yfcc15m"}};
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
  const bool on[] = {ViTB32, ViTB16, ViTL14, ViTL14_336px, RN50, RN50x4, RN50x16, RN50x64, RN101,
                     ViTB32_laion2b_e16, ViTB32_laion400m_e31, ViTB32_laion400m_32, ViTB32quickgelu_laion400m_e31,
                     ViTB32quickgelu_laion400m_e32, ViTB16_laion400m_e31, ViTB16_laion400m_e32, RN50_yffcc15m,
                     RN50_cc12m, RN50_quickgelu_yfcc15m, RN50_quickgelu_cc12m, RN101_yfcc15m, RN101_quickgelu_yfcc15m};
  static_assert(sizeof(on) / sizeof(on[0]) == 22, "one flag per entry of clip_model_flags()");
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
const char* sampling_mode_name(SamplingMode m) { return m == SamplingMode::Plms ? "plms" : "ddim"; }
const char* perlin_mode_name(PerlinMode m) {
  return m == PerlinMode::Color ? "color" : m == PerlinMode::Gray ? "gray" : "mixed";
}

const char* animation_mode_name(AnimationMode m) {
  return m == AnimationMode::TwoD ? "2D" : m == AnimationMode::ThreeD ? "3D" : "None";
}

namespace {
// DD's per-frame series (forward-filled, then back-filled) at `frame`, as a schedule from step 0.
PromptSchedule at_frame(const PromptSchedule& p, int64_t frame) {
  PromptSchedule out;
  if (!p.empty()) out.set(0, p.at(frame));
  return out;
}
PromptSchedule frame_zero(const PromptSchedule& p) { return at_frame(p, 0); }
}  // namespace

PromptSchedule Settings::frame_text_prompts(int64_t frame) const { return at_frame(text_prompts, frame); }
PromptSchedule Settings::frame_image_prompts(int64_t frame) const { return at_frame(image_prompts, frame); }

int Settings::calc_frames_skip_steps() const {
  return static_cast<int>(std::floor(steps * settings_detail::parse_percent(frames_skip_steps, "frames_skip_steps") / 100.0));
}

PromptSchedule Settings::still_text_prompts() const {
  return prompt_keys == PromptKeys::Frame ? frame_zero(text_prompts) : text_prompts;
}
PromptSchedule Settings::still_image_prompts() const {
  return prompt_keys == PromptKeys::Frame ? frame_zero(image_prompts) : image_prompts;
}

void Settings::validate() const { validate_with(settings_table(), *this); }

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
