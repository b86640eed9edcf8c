// Every Disco Diffusion v5.7 setting that concerns still images, under DD's names and with DD's
// defaults (dd-spec §2), plus the values DD derives from them (§2.9).
// Sources merge in order, later wins: Settings{} (the defaults) -> a settings file (JSON; DD's
// own saved `*_settings.txt` loads as is) -> command-line overrides. docs/settings.md lists them.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "animation/key_frames.h"
#include "animation/warp_modes.h"
#include "disco/prompts.h"

namespace disco {

// intermediate_saves: an integer N (N evenly spaced saves, 0 = none) or a list of step numbers.
struct IntermediateSaves {
  int count = 0;
  std::optional<std::vector<int>> steps;  // set: save exactly at these steps (DD's list form)
  bool operator==(const IntermediateSaves& o) const { return count == o.count && steps == o.steps; }
};

// What the keys of text_prompts and image_prompts count (dd-spec §2.8).
enum class PromptKeys {
  Step,   // sampler steps: a still image switches prompts at those steps (this port's own meaning)
  Frame,  // animation frames, DD's meaning: a still image is frame 0 and uses the first entry
};
const char* prompt_keys_name(PromptKeys k);  // "step" | "frame"

enum class SamplingMode { Ddim, Plms };  // diffusion_sampling_mode
const char* sampling_mode_name(SamplingMode m);  // "ddim" | "plms"

enum class PerlinMode { Mixed, Color, Gray };  // perlin_mode
const char* perlin_mode_name(PerlinMode m);  // "mixed" | "color" | "gray"

// animation_mode (dd-spec §2.5): a still image per batch, or DD's 2D or 3D frame loop. DD's
// 'Video Input' is refused by validation with a clear message.
enum class AnimationMode { None, TwoD, ThreeD };
const char* animation_mode_name(AnimationMode m);  // "None" | "2D" | "3D"

struct Settings {
  // --- Prompts (§2.8). Their keys count prompt_keys: sampler steps or DD's animation frames. ---
  PromptSchedule text_prompts = PromptSchedule::from_json(
      {{"0",
        {"A beautiful painting of a singular lighthouse, shining its light across a tumultuous sea of blood by greg "
         "rutkowski and thomas kinkade, Trending on artstation.",
         "yellow color scheme"}}},
      "text_prompts");
  PromptSchedule image_prompts;
  // Settings{} reads keys as steps; a settings file DD wrote (recognised by its keys, see
  // load_settings_file) and every animation mode read them as frames.
  PromptKeys prompt_keys = PromptKeys::Step;

  // --- Model settings (§2.1) ---
  std::string diffusion_model = "512x512_diffusion_uncond_finetune_008100";
  bool use_secondary_model = true;
  SamplingMode diffusion_sampling_mode = SamplingMode::Ddim;
  std::string custom_path = "/content/drive/MyDrive/deep_learning/ddpm/ema_0.9999_058000.pt";
  bool use_checkpoint = true;
  bool check_model_SHA = false;
  // OpenAI CLIP models; the run uses them in the fixed order of clip_model_names().
  bool ViTB32 = true;
  bool ViTB16 = true;
  bool ViTL14 = false;
  bool ViTL14_336px = false;
  bool RN101 = false;
  bool RN50 = true;
  bool RN50x4 = false;
  bool RN50x16 = false;
  bool RN50x64 = false;
  // OpenCLIP models (open_clip's name::pretrained in clip_model_flags()), under DD's setting names,
  // its typos included (RN50_yffcc15m, ViTB32_laion400m_32). Their files are fetched on request
  // only (`disco models fetch`), never during a run.
  bool ViTB32_laion2b_e16 = false;
  bool ViTB32_laion400m_e31 = false;
  bool ViTB32_laion400m_32 = false;
  bool ViTB32quickgelu_laion400m_e31 = false;
  bool ViTB32quickgelu_laion400m_e32 = false;
  bool ViTB16_laion400m_e31 = false;
  bool ViTB16_laion400m_e32 = false;
  bool RN50_yffcc15m = false;
  bool RN50_cc12m = false;
  bool RN50_quickgelu_yfcc15m = false;
  bool RN50_quickgelu_cc12m = false;
  bool RN101_yfcc15m = false;
  bool RN101_quickgelu_yfcc15m = false;

  // --- Basic settings (§2.2) ---
  std::string batch_name = "TimeToDisco";
  int steps = 250;
  std::array<int, 2> width_height_for_512x512_models = {1280, 768};
  std::array<int, 2> width_height_for_256x256_models = {512, 448};
  // Explicit size ("width"/"height" in DD's saved file, -W/-H); unset: the per-model default above.
  std::optional<int> width;
  std::optional<int> height;
  double clip_guidance_scale = 5000;
  double tv_scale = 0;
  double range_scale = 150;  // QUIRK(dd-spec §15.6): no effect in v5.7
  double sat_scale = 0;
  int cutn_batches = 4;
  bool skip_augs = false;

  // --- Init image (§2.3) ---
  std::optional<std::string> init_image;  // DD's '', 'none', 'None', 'NONE' and null mean none
  double init_scale = 1000;
  int skip_steps = 10;

  // --- Saving / extra settings (§2.6) ---
  IntermediateSaves intermediate_saves;
  bool intermediates_in_subfolder = true;
  bool perlin_init = false;
  PerlinMode perlin_mode = PerlinMode::Mixed;
  std::string set_seed = "random_seed";  // or an integer string
  std::optional<uint32_t> seed;  // the run seed (DD's saved "seed"); wins over set_seed
  double eta = 0.8;
  bool clamp_grad = true;
  double clamp_max = 0.05;
  bool randomize_class = true;  // no effect: the models are unconditional (§2.6)
  bool clip_denoised = false;
  bool fuzzy_prompt = false;
  double rand_mag = 0.05;
  bool use_vertical_symmetry = false;
  bool use_horizontal_symmetry = false;
  std::vector<double> transformation_percent = {0.09};
  int display_rate = 20;
  bool truncate_prompts = false;  // a text prompt over 77 tokens is cut instead of refused (DD refuses)
  // discoart's GIF of each image's progress (its display_rate images), written only when asked for.
  bool gif = false;
  int gif_fps = 20;             // frames per second (discoart's default)
  double gif_size_ratio = 0.5;  // the GIF's size relative to the image (discoart's default)
  int n_batches = 50;
  int batch_size = 1;  // DD hard-codes 1

  // --- Cutout schedules (§2.7), over the original 1000-step scale ---
  std::string cut_overview = "[12]*400+[4]*600";
  std::string cut_innercut = "[4]*400+[12]*600";
  std::string cut_ic_pow = "[1]*1000";
  std::string cut_icgray_p = "[0.2]*400+[0]*600";

  // --- Animation (§2.5, §11). Motion settings are key-frame strings ("0: (0), 10: (1.5)"). ---
  AnimationMode animation_mode = AnimationMode::None;
  bool key_frames = true;  // false: the motion settings are plain numbers, the same for every frame
  int max_frames = 10000;
  animation::Interp interp_spline = animation::Interp::Linear;
  std::string angle = "0:(0)";                 // 2D: degrees per frame
  std::string zoom = "0: (1), 10: (1.05)";     // 2D: scale factor per frame
  std::string translation_x = "0: (0)";        // 2D: pixels per frame
  std::string translation_y = "0: (0)";
  std::string translation_z = "0: (10.0)";     // 3D: scene units per frame (x 1/200)
  std::string rotation_3d_x = "0: (0)";        // 3D: degrees per frame
  std::string rotation_3d_y = "0: (0)";
  std::string rotation_3d_z = "0: (0)";
  // 3D (§11.4-11.6): the depth estimate, the camera, turbo and VR.
  std::string midas_depth_model = "dpt_large";
  double midas_weight = 0.3;                   // depth = w * MiDaS + (1 - w) * AdaBins; AdaBins runs where w < 1
  double near_plane = 200;
  double far_plane = 10000;
  double fov = 40;                             // degrees
  animation::PaddingMode padding_mode = animation::PaddingMode::Border;
  animation::SamplingMode sampling_mode = animation::SamplingMode::Bicubic;
  bool turbo_mode = false;                     // diffuse every turbo_steps-th frame, blend warps between
  std::string turbo_steps = "3";               // DD keeps it as text: "2" .. "6"
  int turbo_preroll = 10;                      // frames diffused before turbo starts
  bool vr_mode = false;                        // left/right eye views of every frame
  double vr_eye_angle = 0.5;                   // degrees
  double vr_ipd = 5.0;                         // scene units
  double frames_scale = 1500;                  // init_scale of frames after the first
  std::string frames_skip_steps = "60%";       // skip_steps of frames after the first, as a share of steps
  // Resuming an animation in its folder (§12; not saved: they say how to run, not what to make).
  bool resume_run = false;
  std::string run_to_resume = "latest";        // or a run number
  std::string resume_from_frame = "latest";    // after the frames on disk, or after this frame
  bool retain_overwritten_frames = false;      // frames to be made again move to retained/

  // --- Derived values (§2.9) ---
  bool uses_256_model() const;                 // the model is in DD's 256x256 list
  std::array<int, 2> width_height() const;     // [width, height] before rounding
  int side_x() const { return width_height()[0] / 64 * 64; }  // DD floors to a multiple of 64
  int side_y() const { return width_height()[1] / 64 * 64; }
  // floor(steps * frames_skip_steps% / 100): the skip_steps of every frame after the first.
  int calc_frames_skip_steps() const;
  std::string timestep_respacing() const { return "ddim" + std::to_string(steps); }
  int diffusion_steps() const { return steps < 1000 ? (1000 / steps) * steps : steps; }
  // DD's steps_per_checkpoint; nullopt in list mode.
  std::optional<int> steps_per_checkpoint() const;
  // CLIP names of the enabled flags, in DD's fixed order: OpenAI's ("ViT-B/32", ...), then
  // OpenCLIP's ("ViT-B-32::laion2b_e16", ...).
  std::vector<std::string> clip_model_names() const;
  // Cut schedules as used by the run: parsed, with DD's silent per-model overrides (§2.7).
  std::vector<double> cut_overview_schedule() const;
  std::vector<double> cut_innercut_schedule() const;
  std::vector<double> cut_ic_pow_schedule() const;
  std::vector<double> cut_icgray_p_schedule() const;
  // The prompt schedules a still image follows: as given with step keys; with frame keys, frame
  // 0's entry alone (DD's per-frame series, back-filled), from step 0 on.
  PromptSchedule still_text_prompts() const;
  PromptSchedule still_image_prompts() const;
  // The prompts of animation frame f, from step 0 on: the entry with the greatest key <= f (the
  // first entry before it), as DD's per-frame series gives.
  PromptSchedule frame_text_prompts(int64_t frame) const;
  PromptSchedule frame_image_prompts(int64_t frame) const;

  // Throws disco::SettingsError for the first bad value, naming the setting and allowed range.
  void validate() const;
};

// The CLIP models' Settings flag names and model names, in DD's model order: the nine OpenAI
// models, then the thirteen OpenCLIP ones (open_clip's "model::pretrained").
const std::vector<std::pair<std::string, std::string>>& clip_model_flags();  // {flag, name}
// DD's diffusion_model choices (§2.1), "custom" last.
const std::vector<std::string>& diffusion_model_choices();

// Merges the DD-named keys of `j` onto `base`. `source` (e.g. "settings file 'x.json'") goes into
// error messages. Keys DD knows but still images do not use (animation, video, 3D, resume) are
// accepted, ignored, and listed in `notes` with any other remark worth showing the user; unknown
// keys and bad values throw disco::SettingsError. The result is validated.
Settings merge_settings(const Settings& base, const nlohmann::json& j, const std::string& source,
                        std::vector<std::string>* notes = nullptr);

// Reads a JSON settings file (ours or DD's `*_settings.txt`) and merges it onto `base`. A file
// without `prompt_keys` that holds any key only DD's save_settings writes (its animation, 3D and
// video keys: is_dd_settings_file) is DD's: its prompt keys are frames (prompt_keys 'frame').
Settings load_settings_file(const std::string& path, const Settings& base = Settings{},
                            std::vector<std::string>* notes = nullptr);

// True for the key set of a file DD wrote: no `prompt_keys`, and one of DD's animation keys.
bool is_dd_settings_file(const nlohmann::json& j);

// One "key=value" override from the command line: the value is read as JSON when it parses
// (steps=100, ViTL14=true, text_prompts=["a:1"]), otherwise as a plain string (batch_name=Foo).
Settings apply_override(const Settings& base, const std::string& key_equals_value,
                        std::vector<std::string>* notes = nullptr);

// The settings under DD's key names, in the order of DD's saved settings file (§12), followed by
// this port's extra keys; merge_settings(Settings{}, to_json(s), ...) gives back `s`.
nlohmann::ordered_json to_json(const Settings& s);

// to_json's text, indented by 4 as DD writes it.
std::string to_settings_text(const Settings& s);

// The seed to use: `seed` if set, else int(set_seed), else a fresh random one in [0, 2^32 - 1].
uint32_t resolve_seed(const Settings& s);

bool operator==(const Settings& a, const Settings& b);
inline bool operator!=(const Settings& a, const Settings& b) { return !(a == b); }

}  // namespace disco
