// The settings table (settings_table.h): every setting's entry, the typed readers and range
// checks they use, validation and the generated reference.
#include "disco/settings_table.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "animation/key_frames.h"
#include "common/error.h"
#include "disco/schedule_string.h"
#include "disco/settings_internal.h"
#include "io/gif.h"

namespace disco {

using json = nlohmann::json;
using ojson = nlohmann::ordered_json;
using settings_detail::join;
using settings_detail::parse_seed_text;

namespace {

constexpr int kMaxSide = 16384;  // sanity bound; DD itself has none

// ---- typed readers: the key names the value in errors ----

[[noreturn]] void type_error(const std::string& key, const json& v, const char* wanted) {
  throw SettingsError(detail::concat("setting '", key, "' must be ", wanted, ", but it is ", v.dump(), "."));
}

bool read_bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) type_error(key, v, "true or false");
  return v.get<bool>();
}

double read_double(const json& v, const std::string& key) {
  if (!v.is_number()) type_error(key, v, "a number");
  return v.get<double>();
}

long long read_integer(const json& v, const std::string& key) {
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15) return static_cast<long long>(d);
  }
  type_error(key, v, "an integer");
}

int read_int(const json& v, const std::string& key) {
  const long long n = read_integer(v, key);
  if (n < std::numeric_limits<int>::min() || n > std::numeric_limits<int>::max()) type_error(key, v, "a smaller integer");
  return static_cast<int>(n);
}

std::string read_string(const json& v, const std::string& key) {
  if (!v.is_string()) type_error(key, v, "a string");
  return v.get<std::string>();
}

std::array<int, 2> read_pair(const json& v, const std::string& key) {
  if (!v.is_array() || v.size() != 2) type_error(key, v, "a list [width, height]");
  return {read_int(v[0], key), read_int(v[1], key)};
}

// DD's file holds Python ints where the notebook used them (5000, not 5000.0).
ojson number_json(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::abs(v) < 1e15) return static_cast<long long>(v);
  return v;
}

// ---- range checks ----

[[noreturn]] void range_error(const std::string& key, const std::string& value, const std::string& allowed) {
  throw SettingsError(detail::concat("setting '", key, "' is ", value, ", but it must be ", allowed, "."));
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
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

// ---- entry builders: a member of Settings and what is known about it ----

template <typename T>
using Member = T Settings::*;

SettingSpec entry(const std::string& key, const char* group, SettingType type, const char* flag,
                  const std::string& help) {
  SettingSpec e;
  e.key = key;
  e.group = group;
  e.type = type;
  e.flag = flag;
  e.help = help;
  return e;
}

SettingSpec boolean(const char* key, Member<bool> m, const char* group, const char* flag, const std::string& help) {
  SettingSpec e = entry(key, group, SettingType::Bool, flag, help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = read_bool(v, k); };
  e.write = [m](const Settings& s) { return ojson(s.*m); };
  return e;
}

SettingSpec integer(const char* key, Member<int> m, const char* group, const char* flag, const char* help,
                    int min = std::numeric_limits<int>::min(), const char* why = "") {
  SettingSpec e = entry(key, group, SettingType::Int, flag, help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = read_int(v, k); };
  e.write = [m](const Settings& s) { return ojson(s.*m); };
  e.check = [m, k = e.key, min, why = std::string(why)](const Settings& s) {
    if (s.*m < min) range_error(k, std::to_string(s.*m), "an integer >= " + std::to_string(min) + why);
  };
  if (min != std::numeric_limits<int>::min()) e.allowed = "≥ " + std::to_string(min);
  return e;
}

SettingSpec number(const char* key, Member<double> m, const char* group, const char* flag, const char* help,
                   double min = 0, const char* why = "") {
  SettingSpec e = entry(key, group, SettingType::Number, flag, help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = read_double(v, k); };
  e.write = [m](const Settings& s) { return number_json(s.*m); };
  e.check = [m, k = e.key, min, why = std::string(why)](const Settings& s) {
    if (!(std::isfinite(s.*m) && s.*m >= min)) range_error(k, num(s.*m), "a number >= " + num(min) + why);
  };
  e.allowed = "≥ " + num(min);
  return e;
}

SettingSpec text(const char* key, Member<std::string> m, const char* group, const char* flag, const char* help) {
  SettingSpec e = entry(key, group, SettingType::Text, flag, help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = read_string(v, k); };
  e.write = [m](const Settings& s) { return ojson(s.*m); };
  return e;
}

SettingSpec choice(const char* key, Member<std::string> m, std::vector<std::string> choices, const char* group,
                   const char* flag, const char* help) {
  SettingSpec e = text(key, m, group, flag, help);
  e.type = SettingType::Choice;
  e.choices = choices;
  e.check = [m, k = e.key, choices](const Settings& s) {
    if (std::find(choices.begin(), choices.end(), s.*m) == choices.end())
      range_error(k, "'" + s.*m + "'", "one of " + join(choices));
  };
  return e;
}

// A choice read into an enum once, here; `names` lists every value.
template <typename E>
SettingSpec enum_choice(const char* key, Member<E> m, std::vector<std::pair<std::string, E>> names, const char* group,
                        const char* flag, const char* help) {
  SettingSpec e = entry(key, group, SettingType::Choice, flag, help);
  for (const auto& n : names) e.choices.push_back(n.first);
  e.read = [m, names, k = e.key, choices = e.choices](Settings& s, const json& v, std::vector<std::string>&) {
    const std::string t = read_string(v, k);
    for (const auto& [name, value] : names)
      if (name == t) return void(s.*m = value);
    range_error(k, "'" + t + "'", "one of " + join(choices));
  };
  e.write = [m, names](const Settings& s) {
    for (const auto& [name, value] : names)
      if (value == s.*m) return ojson(name);
    return ojson(nullptr);
  };
  return e;
}

SettingSpec cut_schedule(const char* key, Member<std::string> m, bool counts, bool probability, const char* help) {
  SettingSpec e = text(key, m, "Cutn schedules", "", help);
  e.check = [m, k = e.key, counts, probability](const Settings& s) { check_cut_schedule(k, s.*m, counts, probability); };
  e.allowed = counts ? "whole numbers ≥ 0" : probability ? "probabilities in [0, 1]" : "numbers";
  return e;
}

SettingSpec prompts(const char* key, Member<PromptSchedule> m, const char* help) {
  SettingSpec e = entry(key, "Prompts", SettingType::Prompts, "", help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = PromptSchedule::from_json(v, k); };
  e.write = [m](const Settings& s) { return (s.*m).to_json(); };
  return e;
}

SettingSpec size_pair(const char* key, Member<std::array<int, 2>> m, const char* help) {
  SettingSpec e = entry(key, "Basic", SettingType::List, "", help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = read_pair(v, k); };
  e.write = [m](const Settings& s) { return ojson(s.*m); };
  e.check = [m, k = e.key](const Settings& s) {
    for (int i = 0; i < 2; ++i) check_side(k + "[" + std::to_string(i) + "]", (s.*m)[i]);
  };
  e.allowed = "each 64 … " + std::to_string(kMaxSide);
  return e;
}

}  // namespace

const char* setting_type_name(SettingType t) {
  switch (t) {
    case SettingType::Bool: return "bool";
    case SettingType::Int: return "int";
    case SettingType::Number: return "number";
    case SettingType::Text: return "text";
    case SettingType::Choice: return "choice";
    case SettingType::List: return "list";
    case SettingType::Prompts: return "prompts";
  }
  return "?";
}

SettingsTable& SettingsTable::add(SettingSpec spec) {
  DISCO_CHECK(!find(spec.key), Error, "the settings table has '", spec.key, "' twice.");
  if (!spec.write) spec.write = [](const Settings&) { return ojson(nullptr); };
  specs_.push_back(std::move(spec));
  return *this;
}

SettingsTable& SettingsTable::add_check(std::function<void(const Settings&)> check) {
  checks_.push_back(std::move(check));
  return *this;
}

const SettingSpec* SettingsTable::find(const std::string& key) const {
  for (const auto& s : specs_)
    if (s.key == key) return &s;
  return nullptr;
}

void validate_with(const SettingsTable& table, const Settings& s) {
  for (const auto& spec : table.specs())
    if (spec.check) spec.check(s);
  for (const auto& check : table.checks()) check(s);
}


// ---- the entries, in the order of DD's saved settings file, then this port's own ----

namespace {

SettingSpec init_image_entry() {
  SettingSpec e = entry("init_image", "Init image", SettingType::Text, "--init-image",
                        "Init image: path or http(s) URL to a PNG, JPEG or WebP (told by content), stretched to the "
                        "output size; none: start from noise");
  e.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    if (v.is_null()) return s.init_image.reset();
    const std::string t = read_string(v, "init_image");
    if (t.empty() || t == "none" || t == "None" || t == "NONE") return s.init_image.reset();  // DD's "no init"
    s.init_image = t;
  };
  e.write = [](const Settings& s) { return s.init_image ? ojson(*s.init_image) : ojson(nullptr); };
  return e;
}

SettingSpec seed_entry() {
  SettingSpec e = entry("seed", "Extra", SettingType::Int, "-s,--seed",
                        "Run seed (0..4294967295); 'random' draws one. Recorded in the outputs");
  e.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    if (v.is_null()) return s.seed.reset();
    if (v.is_string()) {  // "random_seed" (or "random": a fresh draw) as in set_seed, or digits
      const std::string t = v.get<std::string>();
      if (t == "random_seed" || t == "random") {
        s.seed.reset();
        if (t == "random") s.set_seed = "random_seed";
        return;
      }
      s.seed = parse_seed_text(t, "seed");
      return;
    }
    s.seed = parse_seed_text(std::to_string(read_integer(v, "seed")), "seed");
  };
  e.write = [](const Settings& s) { return s.seed ? ojson(*s.seed) : ojson(nullptr); };
  e.allowed = "0 … 4294967295, or random";
  return e;
}

SettingSpec min_checked(SettingSpec e, std::function<void(const Settings&)> check, const char* allowed) {
  e.check = std::move(check);
  e.allowed = allowed;
  return e;
}

SettingSpec max_frames_entry() {
  constexpr int kMaxFrames = 1000000;
  SettingSpec e = integer("max_frames", &Settings::max_frames, "Animation", "--max-frames",
                          "Frames of an animation (frame numbers 0 … max_frames − 1)", 1);
  e.check = [](const Settings& s) {
    if (s.max_frames < 1 || s.max_frames > kMaxFrames)
      range_error("max_frames", std::to_string(s.max_frames), "an integer from 1 to " + std::to_string(kMaxFrames));
  };
  e.allowed = "1 … " + std::to_string(kMaxFrames);
  return e;
}

SettingSpec frames_skip_steps_entry() {
  SettingSpec e = text("frames_skip_steps", &Settings::frames_skip_steps, "Animation", "--frames-skip-steps",
                       "skip_steps of every frame after the first, as a share of steps (\"60%\")");
  e.check = [](const Settings& s) { settings_detail::parse_percent(s.frames_skip_steps, "frames_skip_steps"); };
  e.allowed = "0% … 99%";
  return e;
}

// A motion setting: key frames ("0: (0), 10: (1.5)", or a bare number as DD's fallback reads
// it), or with key_frames false a plain number.
SettingSpec motion(const char* key, Member<std::string> m, const char* flag, const char* help) {
  SettingSpec e = text(key, m, "Animation", flag, help);
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) {
    s.*m = v.is_number() ? number_json(v.get<double>()).dump() : read_string(v, k);
  };
  e.check = [m, k = e.key](const Settings& s) {
    if (s.key_frames) animation::key_frame_series(s.*m, s.max_frames, s.interp_spline, k);
    else animation::plain_motion_value(s.*m, k);
  };
  e.allowed = "key frames";
  return e;
}

// A finite number that may be negative (a 3D camera setting).
SettingSpec finite_number(const char* key, Member<double> m, const char* flag, const char* help) {
  return min_checked(number(key, m, "Animation", flag, help), [m, key](const Settings& s) {
    if (!std::isfinite(s.*m)) range_error(key, num(s.*m), "a finite number");
  }, "finite");
}

// midas_depth_model .. vr_ipd (dd-spec §2.5, §11.4-11.6), in DD's file order. Their checks
// apply in 3D mode only: DD reads them nowhere else.
void add_3d(SettingsTable& t) {
  t.add(choice("midas_depth_model", &Settings::midas_depth_model,
               {"dpt_large", "dpt_hybrid", "dpt_hybrid_nyu", "midas_v21", "midas_v21_small"}, "Animation",
               "--midas-depth-model", "3D: the MiDaS depth network (disco-cpp has dpt_large)"));
  t.add(finite_number("midas_weight", &Settings::midas_weight, "--midas-weight",
                      "3D: depth = w * MiDaS + (1 - w) * AdaBins; AdaBins runs only where w < 1"));
  t.add(finite_number("near_plane", &Settings::near_plane, "--near-plane",
                      "3D camera near plane (no effect on the image: dd-spec §11.4)"));
  t.add(finite_number("far_plane", &Settings::far_plane, "--far-plane", "3D camera far plane (likewise)"));
  t.add(finite_number("fov", &Settings::fov, "--fov", "3D camera field of view, degrees in (0, 180)"));
  t.add(enum_choice<animation::PaddingMode>("padding_mode", &Settings::padding_mode, animation::padding_mode_names(),
                                            "Animation", "--padding-mode",
                                            "3D warp: what is sampled outside the frame (grid_sample padding)"));
  t.add(enum_choice<animation::SamplingMode>("sampling_mode", &Settings::sampling_mode, animation::sampling_mode_names(),
                                             "Animation", "--warp-sampling-mode",
                                             "3D warp: grid_sample interpolation (DD's sampling_mode)"));
  t.add(boolean("turbo_mode", &Settings::turbo_mode, "Animation", "--turbo-mode",
                "3D: after turbo_preroll frames, diffuse every turbo_steps-th frame and blend warps between"));
  SettingSpec steps = choice("turbo_steps", &Settings::turbo_steps, {"2", "3", "4", "5", "6"}, "Animation",
                             "--turbo-steps", "3D turbo: every n-th frame is diffused");
  steps.read = [](Settings& s, const json& v, std::vector<std::string>&) {  // DD writes "3"; 3 means the same
    s.turbo_steps = v.is_number_integer() ? std::to_string(v.get<int64_t>()) : read_string(v, "turbo_steps");
  };
  t.add(steps);
  t.add(integer("turbo_preroll", &Settings::turbo_preroll, "Animation", "--turbo-preroll",
                "3D turbo: frames diffused before turbo starts", 0));
  t.add(boolean("vr_mode", &Settings::vr_mode, "Animation", "--vr-mode",
                "3D: also write left and right eye views of every frame (frame_NNNN_l.png, _r.png)"));
  t.add(finite_number("vr_eye_angle", &Settings::vr_eye_angle, "--vr-eye-angle", "3D VR: each eye's turn, degrees"));
  t.add(finite_number("vr_ipd", &Settings::vr_ipd, "--vr-ipd", "3D VR: distance between the eyes, scene units"));
}

// key_frames .. rotation_3d_z, in DD's file order.
void add_motion(SettingsTable& t) {
  t.add(boolean("key_frames", &Settings::key_frames, "Animation", "",
                "Motion settings are key-frame strings; false: plain numbers, the same every frame"));
  t.add(motion("angle", &Settings::angle, "--angle", "2D rotation per frame, in degrees, as key frames"));
  t.add(motion("zoom", &Settings::zoom, "--zoom", "2D zoom per frame (1 = none), as key frames"));
  t.add(motion("translation_x", &Settings::translation_x, "--translation-x",
               "Shift per frame, as key frames: 2D in pixels, 3D in scene units (x 1/200)"));
  t.add(motion("translation_y", &Settings::translation_y, "--translation-y",
               "Shift per frame, as key frames: 2D in pixels, 3D in scene units (x 1/200)"));
  t.add(motion("translation_z", &Settings::translation_z, "--translation-z",
               "3D: camera move forward per frame in scene units (x 1/200), as key frames"));
  t.add(motion("rotation_3d_x", &Settings::rotation_3d_x, "--rotation-3d-x", "3D: camera turn per frame about x, degrees"));
  t.add(motion("rotation_3d_y", &Settings::rotation_3d_y, "--rotation-3d-y", "3D: camera turn per frame about y, degrees"));
  t.add(motion("rotation_3d_z", &Settings::rotation_3d_z, "--rotation-3d-z", "3D: camera turn per frame about z, degrees"));
  add_3d(t);
}

// "latest" or a whole number >= 0, kept as text as DD's notebook keeps it.
SettingSpec latest_or_number(const char* key, Member<std::string> m, const char* flag, const char* help) {
  SettingSpec e = text(key, m, "Animation", flag, help);
  e.saved = false;
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) {
    s.*m = v.is_number() ? std::to_string(read_int(v, k)) : read_string(v, k);
  };
  e.check = [m, k = e.key](const Settings& s) {
    const std::string& t = s.*m;
    const bool number = !t.empty() && t.size() <= 9 && t.find_first_not_of("0123456789") == std::string::npos;
    if (t != "latest" && !number) range_error(k, "'" + t + "'", "'latest' or a whole number >= 0");
  };
  e.allowed = "latest, or a number ≥ 0";
  return e;
}

void add_resume(SettingsTable& t) {
  SettingSpec run = boolean("resume_run", &Settings::resume_run, "Animation", "",
                            "Continue an animation in its folder (the CLI's --resume)");
  run.saved = false;
  t.add(run);
  t.add(latest_or_number("run_to_resume", &Settings::run_to_resume, "",
                         "The run to continue: latest or its number (the n of name(n)_settings.txt)"));
  t.add(latest_or_number("resume_from_frame", &Settings::resume_from_frame, "--resume-from-frame",
                         "Continue after the frames on disk (latest), or after this frame"));
  SettingSpec retain = boolean("retain_overwritten_frames", &Settings::retain_overwritten_frames, "Animation",
                               "--retain-overwritten-frames", "On resume, move the frames made again to retained/");
  retain.saved = false;
  t.add(retain);
}

// discoart's GIF of each image's progress, under discoart's names and defaults. Saved, as
// display_rate is, so that a run made again from its file writes the same files.
void add_gif(SettingsTable& t) {
  t.add(boolean("gif", &Settings::gif, "Basic", "--gif",
                "Also write each image's progress images (every display_rate steps) as an animated GIF beside it, "
                "<name>(<n>)_<i>-progress.gif, as discoart does"));
  // GIF delays are in 1/100 s and viewers slow down anything under 2/100 s: 50 fps at most.
  t.add(min_checked(integer("gif_fps", &Settings::gif_fps, "Basic", "--gif-fps", "Frames per second of the GIF"),
                    [](const Settings& s) {
                      if (s.gif_fps < 1 || s.gif_fps > 50)
                        range_error("gif_fps", std::to_string(s.gif_fps),
                                    "from 1 to 50 (GIF frame times are whole 1/100 s)");
                    }, "1 … 50"));
  t.add(min_checked(number("gif_size_ratio", &Settings::gif_size_ratio, "Basic", "--gif-size-ratio",
                           "The GIF's width and height relative to the image's"),
                    [](const Settings& s) {
                      if (!(std::isfinite(s.gif_size_ratio) && s.gif_size_ratio > 0 && s.gif_size_ratio <= 1))
                        range_error("gif_size_ratio", num(s.gif_size_ratio), "a number > 0 and <= 1");
                    }, "> 0, ≤ 1"));
  t.add_check([](const Settings& s) {
    DISCO_CHECK(!s.gif || io::have_gif_support(), SettingsError,
                "gif is on, but this disco was built without GIF support: install giflib (apt-get install "
                "libgif-dev), configure and build again, or leave --gif off.");
  });
}

SettingSpec animation_mode_entry() {
  SettingSpec e = enum_choice<AnimationMode>("animation_mode", &Settings::animation_mode,
                                             {{"None", AnimationMode::None}, {"2D", AnimationMode::TwoD},
                                              {"3D", AnimationMode::ThreeD}},
                                             "Animation", "--animation-mode",
                                             "None (still images), 2D or 3D (DD's frame loops)");
  auto read = e.read;
  e.read = [read](Settings& s, const json& v, std::vector<std::string>& notes) {
    DISCO_CHECK(v != "Video Input", SettingsError, "setting 'animation_mode' is ", v.dump(),
                ", a mode disco-cpp does not have yet; use 'None' (still images), '2D' or '3D'.");
    read(s, v, notes);
  };
  return e;
}

// text_prompts .. eta: prompts, guidance scales, init, Perlin, augmentations, seed.
void add_guidance_and_init(SettingsTable& t) {
  t.add(prompts("text_prompts", &Settings::text_prompts,
                "Map from a key (see prompt_keys) to a list of \"text:weight\" strings; a list means {\"0\": list}"));
  t.add(prompts("image_prompts", &Settings::image_prompts, "Same form; the text is an image path or http(s) URL (PNG, JPEG or WebP)"));
  t.add(number("clip_guidance_scale", &Settings::clip_guidance_scale, "Basic", "--clip-guidance-scale",
               "Strength of the CLIP guidance"));
  t.add(number("tv_scale", &Settings::tv_scale, "Basic", "--tv-scale", "Total-variation (smoothness) loss scale"));
  t.add(number("range_scale", &Settings::range_scale, "Basic", "--range-scale",
               "Range loss scale (no effect, as in DD v5.7: dd-spec §15.6)"));
  t.add(number("sat_scale", &Settings::sat_scale, "Basic", "--sat-scale", "Saturation loss scale"));
  t.add(integer("cutn_batches", &Settings::cutn_batches, "Basic", "--cutn-batches",
                "Batches of cutouts per step (gradients averaged)", 1));
  t.add(max_frames_entry());
  t.add(enum_choice<animation::Interp>("interp_spline", &Settings::interp_spline,
                                       {{"Linear", animation::Interp::Linear},
                                        {"Quadratic", animation::Interp::Quadratic},
                                        {"Cubic", animation::Interp::Cubic}},
                                       "Animation", "--interp-spline",
                                       "How key frames are joined: Linear, Quadratic (> 2 keys) or Cubic (> 3 keys)"));
  t.add(init_image_entry());
  t.add(number("init_scale", &Settings::init_scale, "Init image", "--init-scale",
               "LPIPS init loss scale (needs an init image or perlin_init)"));
  t.add(min_checked(integer("skip_steps", &Settings::skip_steps, "Init image", "--skip-steps",
                            "Steps skipped at the start (keeps more of the init)"),
                    [](const Settings& s) {
                      if (s.steps < 1) return;  // steps' own check says what is wrong
                      if (s.skip_steps < 0 || s.skip_steps >= s.steps)
                        range_error("skip_steps", std::to_string(s.skip_steps),
                                    "an integer from 0 to steps - 1 = " + std::to_string(s.steps - 1));
                    }, "0 … steps − 1"));
  t.add(number("frames_scale", &Settings::frames_scale, "Animation", "--frames-scale",
               "init_scale of every frame after the first (LPIPS to the warped previous frame)"));
  t.add(frames_skip_steps_entry());
  t.add(boolean("perlin_init", &Settings::perlin_init, "Extra", "--perlin-init",
                "Start from Perlin noise instead of an init image"));
  t.add(enum_choice<PerlinMode>("perlin_mode", &Settings::perlin_mode,
                                {{"mixed", PerlinMode::Mixed}, {"color", PerlinMode::Color}, {"gray", PerlinMode::Gray}},
                                "Extra", "--perlin-mode", "Perlin noise: mixed, color or gray"));
  t.add(boolean("skip_augs", &Settings::skip_augs, "Basic", "", "No augmentations of the cutouts"));
  t.add(boolean("randomize_class", &Settings::randomize_class, "Extra", "",
                "No effect: the models are unconditional (dd-spec §2.6)"));
  t.add(boolean("clip_denoised", &Settings::clip_denoised, "Extra", "", "Clamp the model's x0 to [-1, 1]"));
  t.add(boolean("clamp_grad", &Settings::clamp_grad, "Extra", "", "Clamp the guidance gradient's RMS to clamp_max"));
  t.add(min_checked(number("clamp_max", &Settings::clamp_max, "Extra", "--clamp-max",
                           "Largest RMS of the guidance gradient"),
                    [](const Settings& s) {
                      if (!(std::isfinite(s.clamp_max) && s.clamp_max > 0))
                        range_error("clamp_max", num(s.clamp_max), "a number > 0");
                    }, "> 0"));
  t.add(seed_entry());
  t.add(boolean("fuzzy_prompt", &Settings::fuzzy_prompt, "Extra", "", "25 noisy copies of each text target"));
  t.add(number("rand_mag", &Settings::rand_mag, "Extra", "", "The noise of fuzzy_prompt's copies"));
  t.add(number("eta", &Settings::eta, "Extra", "--eta", "DDIM eta (0 = deterministic sampler)", 0,
               " (0 = deterministic DDIM, 1 = DDPM-like)"));
}

SettingSpec side_entry(const char* key, std::optional<int> Settings::*m, const char* flag, int index) {
  SettingSpec e = entry(key, "Basic", SettingType::Int, flag,
                        index == 0 ? "Image width (rounded down to a multiple of 64); unset: the model's default"
                                   : "Image height (rounded down to a multiple of 64); unset: the model's default");
  e.read = [m, k = e.key](Settings& s, const json& v, std::vector<std::string>&) { s.*m = read_int(v, k); };
  e.write = [index](const Settings& s) { return ojson(s.width_height()[index]); };  // unrounded, as DD saves it
  e.check = [m, index, k = e.key](const Settings& s) {
    const char* per_model[2][2] = {{"width_height_for_512x512_models[0]", "width_height_for_512x512_models[1]"},
                                   {"width_height_for_256x256_models[0]", "width_height_for_256x256_models[1]"}};
    check_side((s.*m) ? k : std::string(per_model[s.uses_256_model()][index]), s.width_height()[index]);
  };
  e.allowed = "64 … " + std::to_string(kMaxSide);
  return e;
}

Member<bool> clip_member(const std::string& flag) {
  static const std::map<std::string, Member<bool>> members = {
      {"ViTB32", &Settings::ViTB32}, {"ViTB16", &Settings::ViTB16},   {"ViTL14", &Settings::ViTL14},
      {"ViTL14_336px", &Settings::ViTL14_336px}, {"RN101", &Settings::RN101}, {"RN50", &Settings::RN50},
      {"RN50x4", &Settings::RN50x4}, {"RN50x16", &Settings::RN50x16}, {"RN50x64", &Settings::RN50x64},
      {"ViTB32_laion2b_e16", &Settings::ViTB32_laion2b_e16}, {"ViTB32_laion400m_e31", &Settings::ViTB32_laion400m_e31},
      {"ViTB32_laion400m_32", &Settings::ViTB32_laion400m_32},
      {"ViTB32quickgelu_laion400m_e31", &Settings::ViTB32quickgelu_laion400m_e31},
      {"ViTB32quickgelu_laion400m_e32", &Settings::ViTB32quickgelu_laion400m_e32},
      {"ViTB16_laion400m_e31", &Settings::ViTB16_laion400m_e31}, {"ViTB16_laion400m_e32", &Settings::ViTB16_laion400m_e32},
      {"RN50_yffcc15m", &Settings::RN50_yffcc15m}, {"RN50_cc12m", &Settings::RN50_cc12m},
      {"RN50_quickgelu_yfcc15m", &Settings::RN50_quickgelu_yfcc15m}, {"RN50_quickgelu_cc12m", &Settings::RN50_quickgelu_cc12m},
      {"RN101_yfcc15m", &Settings::RN101_yfcc15m}, {"RN101_quickgelu_yfcc15m", &Settings::RN101_quickgelu_yfcc15m}};
  return members.at(flag);
}

bool is_open_clip_name(const std::string& name) { return name.find("::") != std::string::npos; }

// "ViT-B-32::laion400m_e31" -> "OpenCLIP ViT-B-32 (laion400m_e31 weights, GELU)".
std::string open_clip_help(const std::string& name) {
  const std::string model = name.substr(0, name.find("::")), tag = name.substr(name.find("::") + 2);
  const bool quick = model.find("-quickgelu") != std::string::npos;
  return "Guide with OpenCLIP " + name + " (" + tag + " weights, " + (quick ? "QuickGELU" : "GELU") +
         "); fetch it first: disco models fetch " + name;
}

// width .. the OpenCLIP flags: size, diffusion model, sampler, CLIP models.
void add_size_and_models(SettingsTable& t) {
  t.add(side_entry("width", &Settings::width, "-W,--width", 0));
  t.add(side_entry("height", &Settings::height, "-H,--height", 1));
  t.add(choice("diffusion_model", &Settings::diffusion_model, diffusion_model_choices(), "Models", "--diffusion-model",
               "Diffusion model preset (see `disco models list`)"));
  t.add(boolean("use_secondary_model", &Settings::use_secondary_model, "Models", "--use-secondary-model",
                "Guide through the small secondary model"));
  t.add(integer("steps", &Settings::steps, "Basic", "--steps", "Sampler steps", 1));
  SettingSpec derived = entry("diffusion_steps", "Models", SettingType::Int, "",
                              "Derived from steps ((1000 // steps) * steps below 1000); a file's value is replaced");
  derived.read = [](Settings&, const json&, std::vector<std::string>&) {};  // compared in merge_settings
  derived.write = [](const Settings& s) { return ojson(s.diffusion_steps()); };
  t.add(derived);
  t.add(enum_choice<SamplingMode>("diffusion_sampling_mode", &Settings::diffusion_sampling_mode,
                                  {{"ddim", SamplingMode::Ddim}, {"plms", SamplingMode::Plms}}, "Models",
                                  "--sampling-mode", "ddim or plms"));
  // DD's file order of the OpenAI flags differs from its model order (RN101 before RN50).
  for (const char* flag : {"ViTB32", "ViTB16", "ViTL14", "ViTL14_336px", "RN101", "RN50", "RN50x4", "RN50x16", "RN50x64"}) {
    std::string name = flag;
    for (const auto& [f, n] : clip_model_flags())
      if (f == flag) name = n;
    t.add(boolean(flag, clip_member(flag), "Models", "", "Guide with OpenAI CLIP " + name));
  }
  for (const auto& [flag, name] : clip_model_flags())
    if (is_open_clip_name(name)) t.add(boolean(flag.c_str(), clip_member(flag), "Models", "", open_clip_help(name)));
}

// cut_overview .. transformation_percent.
void add_cuts_and_symmetry(SettingsTable& t) {
  t.add(cut_schedule("cut_overview", &Settings::cut_overview, true, false,
                     "Overview cuts per batch, a schedule over the 1000-step scale"));
  t.add(cut_schedule("cut_innercut", &Settings::cut_innercut, true, false, "Inner cuts per batch, a schedule"));
  t.add(cut_schedule("cut_ic_pow", &Settings::cut_ic_pow, false, false, "Inner-cut size power, a schedule"));
  t.add(cut_schedule("cut_icgray_p", &Settings::cut_icgray_p, false, true,
                     "Share of grayscale inner cuts, a schedule of probabilities"));
  add_motion(t);
  t.add(boolean("use_horizontal_symmetry", &Settings::use_horizontal_symmetry, "Extra", "",
                "Mirror the left half onto the right at transformation_percent (DDIM)"));
  t.add(boolean("use_vertical_symmetry", &Settings::use_vertical_symmetry, "Extra", "",
                "Mirror the top half onto the bottom at transformation_percent (DDIM)"));
  SettingSpec tp = entry("transformation_percent", "Extra", SettingType::List, "",
                         "When the symmetry fires: fractions of the run, a list");
  tp.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    s.transformation_percent.clear();
    if (!v.is_array()) return s.transformation_percent.push_back(read_double(v, "transformation_percent"));
    for (const auto& item : v) s.transformation_percent.push_back(read_double(item, "transformation_percent"));
  };
  tp.write = [](const Settings& s) { return ojson(s.transformation_percent); };
  tp.check = [](const Settings& s) {
    for (double p : s.transformation_percent)
      if (!(p >= 0 && p <= 1)) range_error("transformation_percent", num(p), "a list of fractions in [0, 1]");
  };
  tp.allowed = "fractions in [0, 1]";
  t.add(tp);
}

SettingSpec prompt_keys_entry() {
  return enum_choice<PromptKeys>("prompt_keys", &Settings::prompt_keys,
                                 {{"step", PromptKeys::Step}, {"frame", PromptKeys::Frame}}, "Prompts", "--prompt-keys",
                                 "What prompt keys count: step (sampler steps) or frame (animation frames, DD's "
                                 "meaning: a still image uses the first entry). A settings file written by DD, and "
                                 "every animation, means frame");
}

SettingSpec intermediate_saves_entry() {
  SettingSpec e = entry("intermediate_saves", "Extra", SettingType::List, "--intermediate-saves",
                        "N evenly spaced intermediate images, or a list of steps like [10,50]");
  e.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    IntermediateSaves out;
    if (v.is_array()) {
      out.steps.emplace();
      for (const auto& item : v) out.steps->push_back(read_int(item, "intermediate_saves"));
    } else if (v.is_boolean()) {  // Python: False == 0, True == 1
      out.count = v.get<bool>() ? 1 : 0;
    } else {
      out.count = read_int(v, "intermediate_saves");
    }
    s.intermediate_saves = out;
  };
  e.write = [](const Settings& s) {
    return s.intermediate_saves.steps ? ojson(*s.intermediate_saves.steps) : ojson(s.intermediate_saves.count);
  };
  e.check = [](const Settings& s) {
    if (!s.intermediate_saves.steps && s.intermediate_saves.count < 0)
      range_error("intermediate_saves", std::to_string(s.intermediate_saves.count),
                  "an integer >= 0 (0 saves none) or a list of steps");
    for (int j : s.intermediate_saves.steps.value_or(std::vector<int>{}))
      if (j < 0) range_error("intermediate_saves", std::to_string(j), "an integer >= 0 (step numbers)");
  };
  return e;
}

SettingSpec set_seed_entry() {
  SettingSpec e = entry("set_seed", "Extra", SettingType::Text, "",
                        "DD's seed setting: 'random_seed' or an integer (seed, when set, wins)");
  e.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    s.set_seed = v.is_number_integer() ? std::to_string(v.get<long long>()) : read_string(v, "set_seed");
    if (s.set_seed != "random_seed") parse_seed_text(s.set_seed, "set_seed");
  };
  e.write = [](const Settings& s) { return ojson(s.set_seed); };
  e.check = [](const Settings& s) {
    if (s.set_seed != "random_seed") parse_seed_text(s.set_seed, "set_seed");
  };
  return e;
}

// Settings DD keeps out of its file, saved so that a run can be repeated from the file alone.
void add_port_settings(SettingsTable& t) {
  t.add(animation_mode_entry());
  t.add(prompt_keys_entry());
  SettingSpec name = text("batch_name", &Settings::batch_name, "Basic", "--batch-name",
                          "Name of the run: output folder and file names");
  name.check = [](const Settings& s) {
    const std::string& b = s.batch_name;
    if (b.empty() || b == "." || b == ".." || b.find_first_of("/\\") != std::string::npos)
      range_error("batch_name", "'" + b + "'",
                  "a non-empty folder name without '/' or '\\' (it names the output folder and files)");
  };
  name.allowed = "a folder name";
  t.add(name);
  t.add(integer("n_batches", &Settings::n_batches, "Basic", "--n-batches", "Number of images", 1));
  t.add(integer("batch_size", &Settings::batch_size, "Basic", "", "Images guided at once (DD hard-codes 1)", 1));
  t.add(integer("display_rate", &Settings::display_rate, "Basic", "--display-rate",
                "Write progress.png every N steps", 1));
  t.add(intermediate_saves_entry());
  t.add(boolean("truncate_prompts", &Settings::truncate_prompts, "Prompts", "--truncate-prompts",
                "Cut a text prompt over CLIP's 77 tokens to fit (with a note) instead of refusing it, as DD does"));
  t.add(boolean("intermediates_in_subfolder", &Settings::intermediates_in_subfolder, "Extra", "",
                "Intermediate saves go to partials/"));
  t.add(set_seed_entry());
  t.add(boolean("use_checkpoint", &Settings::use_checkpoint, "Models", "",
                "Gradient checkpointing in the UNet (less memory, more time)"));
  t.add(boolean("check_model_SHA", &Settings::check_model_SHA, "Models", "",
                "Check the model files' sha256 on every run"));
  t.add(text("custom_path", &Settings::custom_path, "Models", "", "The checkpoint of diffusion_model 'custom'"));
  t.add(size_pair("width_height_for_512x512_models", &Settings::width_height_for_512x512_models,
                  "[width, height] for the 512 models when width/height are unset"));
  t.add(size_pair("width_height_for_256x256_models", &Settings::width_height_for_256x256_models,
                  "[width, height] for the 256 models when width/height are unset"));
}

SettingSpec clip_models_entry() {
  SettingSpec e = entry("clip_models", "Models", SettingType::List, "--clip-models",
                        "CLIP models, comma-separated (ViT-B/32,ViT-B/16,RN50,..., OpenCLIP's ViT-B-32::laion2b_e16,...; "
                        "or DD's flag names): sets the model flags above");
  e.saved = false;
  e.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    std::vector<std::string> names;
    if (v.is_string()) {  // "ViT-B/32,RN50" as typed on a command line
      std::stringstream ss(v.get<std::string>());
      for (std::string item; std::getline(ss, item, ',');) {
        item.erase(0, item.find_first_not_of(" \t"));
        item.erase(item.find_last_not_of(" \t") + 1);
        if (!item.empty()) names.push_back(item);
      }
    } else if (v.is_array()) {
      for (const auto& item : v) names.push_back(read_string(item, "clip_models"));
    } else {
      type_error("clip_models", v, "a list of CLIP model names such as [\"ViT-B/32\", \"RN50\"]");
    }
    std::set<std::string> wanted(names.begin(), names.end());
    std::vector<std::string> choices;
    for (const auto& [flag, name] : clip_model_flags()) {
      choices.push_back(name);
      s.*clip_member(flag) = wanted.erase(name) + wanted.erase(flag) > 0;  // "ViT-B/32" or DD's "ViTB32"
    }
    DISCO_CHECK(wanted.empty(), SettingsError, "setting 'clip_models' names an unknown CLIP model '",
                *wanted.begin(), "'; the choices are ", join(choices), ".");
  };
  return e;
}

// Spellings read but not saved: clip_models, DD's width_height, the derived timestep_respacing.
void add_unsaved(SettingsTable& t) {
  t.add(clip_models_entry());
  SettingSpec wh = entry("width_height", "Basic", SettingType::List, "", "[width, height] (DD's older key)");
  wh.saved = false;
  wh.read = [](Settings& s, const json& v, std::vector<std::string>&) {
    const auto p = read_pair(v, "width_height");
    s.width = p[0];
    s.height = p[1];
  };
  t.add(wh);
  SettingSpec respacing = entry("timestep_respacing", "Models", SettingType::Text, "",
                                "Derived: \"ddim\" + steps; a file's value is replaced");
  respacing.saved = false;
  respacing.read = [](Settings&, const json&, std::vector<std::string>&) {};  // compared in merge_settings
  t.add(respacing);
}

// The 3D settings that only 3D mode reads, checked there (dd-spec §2.5, §11.4).
void check_3d(const Settings& s) {
  if (s.animation_mode != AnimationMode::ThreeD) return;
  DISCO_CHECK(s.midas_depth_model == "dpt_large", SettingsError, "midas_depth_model '", s.midas_depth_model,
              "' is not built into disco-cpp yet; use 'dpt_large' (DD's default).");
  DISCO_CHECK(s.midas_weight > 0, SettingsError, "midas_weight is ", num(s.midas_weight),
              ", but 3D mode needs MiDaS: give a number > 0 (DD's default: 0.3; Disco Diffusion stops with an "
              "error at 0).");
  animation::check_camera_options(s.near_plane, s.far_plane, s.fov);
}

// Checks over several settings.
void add_checks(SettingsTable& t) {
  t.add_check([](const Settings& s) {
    if (s.diffusion_model == "custom" && s.custom_path.empty())
      range_error("custom_path", "empty", "the path of the checkpoint to use with diffusion_model 'custom'");
  });
  t.add_check([](const Settings& s) {
    DISCO_CHECK(!s.clip_model_names().empty(), SettingsError,
                "no CLIP model is selected; guidance needs at least one: set one of ViTB32, ViTB16, ViTL14, "
                "ViTL14_336px, RN50, RN50x4, RN50x16, RN50x64, RN101 to true (or clip_models=ViT-B/32,...).");
  });
  t.add_check([](const Settings& s) {
    // QUIRK(dd-spec §6.2, §15.23): DD cuts image prompts at visual.input_resolution, which open_clip's
    // models lack, so any image prompt with an OpenCLIP model selected ends DD's run with an
    // AttributeError. Refused here, before anything is loaded or written.
    const auto& entries = s.image_prompts.entries();
    const bool images = std::any_of(entries.begin(), entries.end(), [](const auto& e) { return !e.second.empty(); });
    if (!images) return;
    for (const auto& name : s.clip_model_names())
      DISCO_CHECK(!is_open_clip_name(name), SettingsError, "image prompts cannot be used with the OpenCLIP model ", name,
                  ": Disco Diffusion v5.7 crashes on this combination (open_clip models have no "
                  "visual.input_resolution to cut image prompts at); drop the image prompts or the OpenCLIP models.");
  });
  t.add_check([](const Settings& s) { check_prompt_weights(s.text_prompts, s.image_prompts, s.fuzzy_prompt); });
  t.add_check(check_3d);
  t.add_check([](const Settings& s) {
    DISCO_CHECK(!s.resume_run || s.animation_mode != AnimationMode::None, SettingsError,
                "resume_run continues an animation, but animation_mode is 'None'; set animation_mode to '2D' (as the "
                "run to continue was made) or leave resume_run off.");
  });
}

std::string markdown_cell(std::string text) {
  std::string out;
  for (char c : text) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

}  // namespace

const SettingsTable& settings_table() {
  static const SettingsTable table = [] {
    SettingsTable t;
    add_guidance_and_init(t);
    add_size_and_models(t);
    add_cuts_and_symmetry(t);
    add_port_settings(t);
    add_resume(t);
    add_gif(t);
    add_unsaved(t);
    add_checks(t);
    return t;
  }();
  return table;
}

std::string settings_reference_markdown(const SettingsTable& table) {
  static const std::vector<std::string> groups = {"Prompts", "Models", "Basic", "Init image", "Animation",
                                                      "Extra", "Cutn schedules"};
  const Settings defaults;
  std::ostringstream os;
  for (const auto& group : groups) {
    os << "\n### " << group << "\n\n| key | flag | type | default | what it does |\n|---|---|---|---|---|\n";
    for (const auto& e : table.specs()) {
      if (e.group != group) continue;
      std::string flag = e.flag.empty() ? "" : "`" + e.flag.substr(e.flag.find("--")) + "`";
      std::string type = setting_type_name(e.type);
      if (!e.choices.empty()) type += ": " + join(e.choices);
      if (!e.allowed.empty()) type += ", " + e.allowed;
      const std::string def = e.saved ? "`" + e.write(defaults).dump() + "`" : "(not saved)";
      os << "| `" << e.key << "` | " << flag << " | " << markdown_cell(type) << " | " << markdown_cell(def) << " | "
         << markdown_cell(e.help) << " |\n";
    }
  }
  return os.str();
}

}  // namespace disco
