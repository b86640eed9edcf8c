// Flag table: each flag names the DD setting it sets; its default comes from Settings{}.
#include "options.h"

#include <algorithm>

namespace disco::cli {
namespace {

enum class Kind { Int, Number, Bool, Text, Json };

struct SettingFlag {
  const char* names;
  const char* key;  // DD's setting name
  Kind kind;
  const char* help;
};

// sd.cpp-like short flags where they exist, DD's names for the rest.
const std::vector<SettingFlag>& setting_flags() {
  static const std::vector<SettingFlag> flags = {
      {"-s,--seed", "seed", Kind::Int, "Run seed (0..4294967295); 'random' draws one. Recorded in the outputs"},
      {"--steps", "steps", Kind::Int, "Sampler steps"},
      {"-W,--width", "width", Kind::Int, "Image width (rounded down to a multiple of 64)"},
      {"-H,--height", "height", Kind::Int, "Image height (rounded down to a multiple of 64)"},
      {"--n-batches", "n_batches", Kind::Int, "Number of images"},
      {"--batch-name", "batch_name", Kind::Text, "Name of the run: output folder and file names"},
      {"--clip-guidance-scale", "clip_guidance_scale", Kind::Number, "Strength of the CLIP guidance"},
      {"--cutn-batches", "cutn_batches", Kind::Int, "Batches of cutouts per step (gradients averaged)"},
      {"--skip-steps", "skip_steps", Kind::Int, "Steps skipped at the start (keeps more of the init)"},
      {"--init-image", "init_image", Kind::Text, "Init image (PNG), stretched to the output size"},
      {"--init-scale", "init_scale", Kind::Number, "LPIPS init loss scale (needs an init image or --perlin-init)"},
      {"--perlin-init", "perlin_init", Kind::Bool, "Start from Perlin noise instead of an init image"},
      {"--perlin-mode", "perlin_mode", Kind::Text, "Perlin noise: mixed|color|gray"},
      {"--display-rate", "display_rate", Kind::Int, "Write progress.png every N steps"},
      {"--intermediate-saves", "intermediate_saves", Kind::Json,
       "N evenly spaced intermediate images, or a list of steps like [10,50]"},
      {"--prompt-keys", "prompt_keys", Kind::Text,
       "What prompt keys count: step (sampler steps) or frame (animation frames, DD's meaning: a still image "
       "uses the first entry). A settings file written by DD means frame"},
      {"--clip-models", "clip_models", Kind::Text, "CLIP models, comma-separated (ViT-B/32,ViT-B/16,RN50,...)"},
      {"--diffusion-model", "diffusion_model", Kind::Text, "Diffusion model preset (see `disco models list`)"},
      {"--use-secondary-model", "use_secondary_model", Kind::Bool, "Guide through the small secondary model"},
      {"--sampling-mode", "diffusion_sampling_mode", Kind::Text, "ddim|plms"},
      {"--eta", "eta", Kind::Number, "DDIM eta (0 = deterministic sampler)"},
      {"--tv-scale", "tv_scale", Kind::Number, "Total-variation (smoothness) loss scale"},
      {"--range-scale", "range_scale", Kind::Number, "Range loss scale (no effect, as in DD v5.7)"},
      {"--sat-scale", "sat_scale", Kind::Number, "Saturation loss scale"},
      {"--clamp-max", "clamp_max", Kind::Number, "Largest RMS of the guidance gradient"},
  };
  return flags;
}

std::string default_text(const std::string& key) {
  static const nlohmann::ordered_json defaults = to_json(Settings{});
  if (key == "seed") return "random";
  if (key == "clip_models") {
    std::string names;
    for (const auto& n : Settings{}.clip_model_names()) names += (names.empty() ? "" : ",") + n;
    return names;
  }
  if (!defaults.contains(key)) return "";
  const auto& v = defaults[key];
  if (v.is_null()) return "none";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The flag's text as the JSON value the setting expects. Type errors are left to
// merge_settings, whose messages name the setting and the expected type.
nlohmann::json flag_value(const SettingFlag& f, const std::string& text) {
  const std::string flag = std::string(f.names).substr(std::string(f.names).find("--"));
  if (f.kind == Kind::Text) return text;
  if (f.kind == Kind::Bool) {
    const std::string t = lower(text);
    if (t.empty() || t == "true" || t == "1" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "0" || t == "no" || t == "off") return false;
    throw SettingsError(detail::concat(flag, " takes true or false, not '", text, "'."));
  }
  if (f.kind == Kind::Int && std::string(f.key) == "seed" && lower(text) == "random") return nullptr;
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || ((f.kind == Kind::Int || f.kind == Kind::Number) && !j.is_number()))
    throw SettingsError(detail::concat(flag, " takes ",
                                       f.kind == Kind::Int ? "an integer" : f.kind == Kind::Number ? "a number" : "a JSON value",
                                       ", not '", text, "'."));
  return j;
}

}  // namespace

void add_run_flags(CLI::App& app, RunFlags& flags) {
  app.add_option("prompts", flags.prompts,
                 "Text prompts \"text:weight\" (weight 1 when left out; negative weights steer away). "
                 "Default: DD's lighthouse prompts")
      ->group("Prompt");
  for (const auto& f : setting_flags()) {
    static const char* type_names[] = {"INT", "NUMBER", "BOOL", "TEXT", "JSON"};
    auto* opt = app.add_option(f.names, flags.values[f.key], f.help)
                    ->type_name(type_names[static_cast<int>(f.kind)])
                    ->group("Settings (DD names)")
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // the last one wins
    if (f.kind == Kind::Bool) {
      // CLI11 gives a value-less optional option its default_str, so the default goes in the
      // help text instead and "--perlin-init" alone reads as true.
      opt->expected(0, 1)->description(std::string(f.help) + " (default " + default_text(f.key) + "; alone: true)");
    } else {
      opt->default_str(default_text(f.key));
    }
    flags.options[f.key] = opt;
  }
  app.add_option("--settings", flags.settings_file, "Settings file (JSON with DD names; DD's *_settings.txt works)")
      ->group("Settings (DD names)");
  app.add_option("--from", flags.from_image, "Re-run from the settings embedded in a PNG made by disco")
      ->group("Settings (DD names)");
  app.add_option("--set", flags.sets, "Any other DD setting, KEY=VALUE (e.g. --set fuzzy_prompt=true); repeatable")
      ->group("Settings (DD names)");

  const RunOptions d;
  app.add_option("-o,--out", flags.run.out_dir, "Output folder")->default_str("images_out/<batch_name>")->group("Run");
  app.add_option("--device", flags.run.device, "cpu, cuda, cuda:N or auto")->default_str(d.device)->group("Run");
  app.add_option("--precision", flags.run.precision, "fp32, mixed (fp16 UNet torso and CLIP on CUDA, as DD), fast (mixed + fp16 secondary model, folded BatchNorm) or auto (mixed on CUDA)")
      ->default_str(d.precision)->group("Run");
  app.add_option("--max-vram", flags.run.max_vram_gib,
                 "GPU memory budget in GiB: CLIP takes as many cuts per pass as fit (0: the card's memory)")
      ->check(CLI::NonNegativeNumber)->group("Run");
  app.add_flag("--cudnn-benchmark", flags.run.cudnn_benchmark,
               "Let cuDNN time its algorithms for each new shape (slow first step)")->group("Run");
  app.add_flag("--channels-last", flags.run.channels_last,
               "UNet torso in NHWC layout (experimental; slower on the H200 measured)")->group("Run");
  app.add_flag("--overlap-sampler", flags.run.overlap_sampler,
               "With the secondary model on a GPU: run the sampler's UNet beside the guidance on a second stream, "
               "where memory allows (experimental)")->group("Run");
  app.add_option("--cuts-per-pass", flags.run.cuts_per_pass,
                 "Cuts per CLIP forward/backward pass (0: planned from the memory budget)")
      ->check(CLI::NonNegativeNumber)->group("Run");
  app.add_flag("-q,--quiet", flags.quiet, "No progress or logs on stderr (errors still shown)")->group("Run");

  auto& m = flags.run.models;
  app.add_option("--model", m.diffusion, "Local diffusion checkpoint instead of the manager's")->group("Model files");
  app.add_option("--model-config", m.diffusion_config,
                 "JSON with guided-diffusion model_config keys, for a checkpoint that is no known preset")
      ->group("Model files");
  app.add_option("--clip", m.clip, "Local CLIP model file (replaces --clip-models); repeatable")->group("Model files");
  app.add_option("--secondary", m.secondary, "Local secondary_model_imagenet_2.pth")->group("Model files");
  app.add_option("--vocab", m.vocab, "Local bpe_simple_vocab_16e6.txt.gz")->group("Model files");
  app.add_option("--lpips-vgg", m.lpips_vgg, "Local vgg16-397923af.pth (init loss)")->group("Model files");
  app.add_option("--lpips-lin", m.lpips_lin, "Local LPIPS v0.1 vgg.pth (init loss)")->group("Model files");
  app.add_option("--models-dir", m.models_dir, "Model cache folder ($DISCO_MODELS)")
      ->default_str(default_models_dir())->group("Model files");
}

Settings build_settings(const RunFlags& flags, std::vector<std::string>* notes) {
  Settings s;
  if (!flags.settings_file.empty()) s = load_settings_file(flags.settings_file, s, notes);
  const bool n_batches_given = flags.options.at("n_batches")->count() > 0;
  if (!flags.from_image.empty()) {
    int index = -1;
    s = settings_from_image(flags.from_image, s, notes, &index);
    // DD draws every image of a run from one random stream (dd-spec §15.22): image k needs the
    // k images before it, so re-making it means a run of k + 1 images.
    if (index >= 0 && !n_batches_given) {
      s.n_batches = index + 1;
      if (notes && index > 0)
        notes->push_back(detail::concat("'", flags.from_image, "' is image ", index,
                                        " of its run; its images 0..", index, " are made again (one random stream)"));
    }
  }
  nlohmann::json j = nlohmann::json::object();
  if (!flags.prompts.empty()) j["text_prompts"] = {{"0", flags.prompts}};
  for (const auto& f : setting_flags()) {
    const CLI::Option* opt = flags.options.at(f.key);
    if (opt->count() == 0) continue;
    const nlohmann::json v = flag_value(f, flags.values.at(f.key));
    if (std::string(f.key) == "seed" && v.is_null()) {
      j["seed"] = nullptr;
      j["set_seed"] = "random_seed";
    } else {
      j[f.key] = v;
    }
  }
  if (!j.empty()) s = merge_settings(s, j, "the command line", notes);
  for (const auto& kv : flags.sets) s = apply_override(s, kv, notes);
  return s;
}

}  // namespace disco::cli
