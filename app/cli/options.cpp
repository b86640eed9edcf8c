// Flag table: each flag names the DD setting it sets; its default comes from Settings{}.
#include "options.h"

#include <algorithm>
#include <fstream>

namespace disco::cli {
namespace {

// The default as the help shows it: the value Settings{} saves.
std::string default_text(const SettingSpec& spec) {
  if (spec.key == "seed") return "random";
  if (spec.key == "clip_models") {
    std::string names;
    for (const auto& n : Settings{}.clip_model_names()) names += (names.empty() ? "" : ",") + n;
    return names;
  }
  const auto v = spec.write(Settings{});
  if (v.is_null()) return "none";
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

const char* type_name(SettingType t) {
  switch (t) {
    case SettingType::Bool: return "BOOL";
    case SettingType::Int: return "INT";
    case SettingType::Number: return "NUMBER";
    case SettingType::Choice: return "CHOICE";
    case SettingType::List:
    case SettingType::Prompts: return "JSON";
    case SettingType::Text: break;
  }
  return "TEXT";
}

// The flag's text as the JSON value the setting expects: numbers and lists are read as JSON where
// they parse, anything else goes to the setting's reader as a string, whose error names the
// setting and the type it wants.
nlohmann::json flag_value(const SettingSpec& spec, const std::string& text) {
  if (spec.type == SettingType::Text || spec.type == SettingType::Choice) return text;
  if (spec.type == SettingType::Bool) {
    const std::string t = lower(text);
    if (t.empty() || t == "true" || t == "1" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "0" || t == "no" || t == "off") return false;
    throw SettingsError(detail::concat(spec.flag.substr(spec.flag.find("--")), " takes true or false, not '", text, "'."));
  }
  const auto j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? nlohmann::json(text) : j;
}

void add_setting_flags(CLI::App& app, RunFlags& flags, const SettingsTable& table) {
  app.add_option("prompts", flags.prompts,
                 "Text prompts \"text:weight\" (weight 1 when left out; negative weights steer away). "
                 "Default: DD's lighthouse prompts")
      ->group("Prompt");
  for (const auto& spec : table.specs()) {
    if (spec.flag.empty()) continue;
    auto* opt = app.add_option(spec.flag, flags.values[spec.key], spec.help)
                    ->type_name(type_name(spec.type))
                    ->group("Settings (DD names)")
                    ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // the last one wins
    if (spec.type == SettingType::Bool) {
      // CLI11 gives a value-less optional option its default_str, so the default goes in the
      // help text instead and "--perlin-init" alone reads as true.
      opt->expected(0, 1)->description(spec.help + " (default " + default_text(spec) + "; alone: true)");
    } else {
      opt->default_str(default_text(spec));
    }
    flags.options[spec.key] = opt;
  }
  flags.table = &table;
}

void add_settings_source_flags(CLI::App& app, RunFlags& flags) {
  app.add_option("--settings", flags.settings_file, "Settings file (JSON with DD names; DD's *_settings.txt works)")
      ->group("Settings (DD names)");
  app.add_option("--from", flags.from_image, "Re-run from the settings embedded in a PNG made by disco")
      ->group("Settings (DD names)");
  flags.resume_option =
      app.add_option("--resume", flags.resume,
                     "Continue an animation in the output folder: the latest run, or run N. Its settings file is "
                     "the base; prompts and flags given now go on top (e.g. a larger --max-frames)")
          ->expected(0, 1)
          ->type_name("[RUN]")
          ->group("Settings (DD names)");
  app.add_option("--set", flags.sets, "Any other DD setting, KEY=VALUE (e.g. --set fuzzy_prompt=true); repeatable")
      ->group("Settings (DD names)");
}

void add_run_option_flags(CLI::App& app, RunFlags& flags) {
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
  app.add_option("--url-timeout", flags.run.url_timeout_s,
                 "Seconds an http(s) init image or image prompt may take to download")
      ->default_str(std::to_string(d.url_timeout_s))->check(CLI::PositiveNumber)->group("Run");
  app.add_flag("-q,--quiet", flags.quiet, "No progress or logs on stderr (errors still shown)")->group("Run");
  app.add_flag("--video", flags.video, "After an animation, join its frames into <name>(<n>).mp4 (as `disco video`)")
      ->group("Run");
}

void add_model_file_flags(CLI::App& app, ModelFiles& m) {
  app.add_option("--model", m.diffusion, "Local diffusion checkpoint instead of the manager's")->group("Model files");
  app.add_option("--model-config", m.diffusion_config,
                 "JSON with guided-diffusion model_config keys, for a checkpoint that is no known preset")
      ->group("Model files");
  app.add_option("--clip", m.clip, "Local CLIP model file (replaces --clip-models); repeatable")->group("Model files");
  app.add_option("--secondary", m.secondary, "Local secondary_model_imagenet_2.pth")->group("Model files");
  app.add_option("--vocab", m.vocab, "Local bpe_simple_vocab_16e6.txt.gz")->group("Model files");
  app.add_option("--lpips-vgg", m.lpips_vgg, "Local vgg16-397923af.pth (init loss)")->group("Model files");
  app.add_option("--lpips-lin", m.lpips_lin, "Local LPIPS v0.1 vgg.pth (init loss)")->group("Model files");
  app.add_option("--midas", m.midas, "Local MiDaS weights for 3D mode (dpt_large-midas-2f21e586.pt)")
      ->group("Model files");
  app.add_option("--adabins", m.adabins, "Local AdaBins_nyu.pt for 3D mode with midas_weight < 1")->group("Model files");
  app.add_option("--models-dir", m.models_dir, "Model cache folder ($DISCO_MODELS)")
      ->default_str(default_models_dir())->group("Model files");
}

}  // namespace

// The order of the calls is the order `disco --help` lists the flags in.
void add_run_flags(CLI::App& app, RunFlags& flags, const SettingsTable& table) {
  add_setting_flags(app, flags, table);
  add_settings_source_flags(app, flags);
  add_run_option_flags(app, flags);
  add_model_file_flags(app, flags.run.models);
}

namespace {

// --from IMAGE: the image's settings; DD draws every image of a run from one random stream
// (dd-spec §15.22) and every frame from the one before, so image k needs the k images before it
// and frame f the frames before it: the run is made again up to it.
Settings from_image_settings(const RunFlags& flags, const Settings& base, std::vector<std::string>* notes) {
  int index = -1, frame = -1;
  Settings s = settings_from_image(flags.from_image, base, notes, &index, &frame);
  if (frame >= 0 && flags.options.at("max_frames")->count() == 0) {
    s.max_frames = frame + 1;
    if (notes && frame > 0)
      notes->push_back(detail::concat("'", flags.from_image, "' is frame ", frame, " of its animation; frames 0..",
                                      frame, " are made again"));
  } else if (index >= 0 && frame < 0 && flags.options.at("n_batches")->count() == 0) {
    s.n_batches = index + 1;
    if (notes && index > 0)
      notes->push_back(detail::concat("'", flags.from_image, "' is image ", index,
                                      " of its run; its images 0..", index, " are made again (one random stream)"));
  }
  return s;
}

// The prompts, flags and --set given, on top of `s`.
Settings with_flags(const RunFlags& flags, Settings s, std::vector<std::string>* notes) {
  nlohmann::json j = nlohmann::json::object();
  if (!flags.prompts.empty()) j["text_prompts"] = {{"0", flags.prompts}};
  const SettingsTable& table = *flags.table;
  for (const auto& [key, opt] : flags.options) {
    if (opt->count() == 0) continue;
    j[key] = flag_value(*table.find(key), flags.values.at(key));
  }
  if (!j.empty()) s = merge_settings_with(table, s, j, "the command line", notes);
  for (const auto& kv : flags.sets) s = apply_override(s, kv, notes);
  return s;
}

// --resume [RUN]: the run's settings file, found in the output folder the flags name.
Settings resume_settings(const RunFlags& flags, const Settings& given, std::vector<std::string>* notes) {
  const std::string folder = output_folder(given, flags.run);
  const std::string which = flags.resume.empty() ? "latest" : flags.resume;
  const bool number = which.size() <= 9 && which.find_first_not_of("0123456789") == std::string::npos;
  DISCO_CHECK(which == "latest" || number, SettingsError, "--resume takes a run number or nothing (the latest run), not '",
              which, "'.");
  const int run = which == "latest" ? latest_run_number(folder, given.batch_name) : std::stoi(which);
  const std::string file = folder + "/" + given.batch_name + "(" + std::to_string(run) + ")_settings.txt";
  DISCO_CHECK(run >= 0 && std::ifstream(file).good(), SettingsError, "--resume: there is no run of '", given.batch_name,
              "' in '", folder, "'", run >= 0 ? " numbered " + std::to_string(run) : std::string(),
              "; name the folder with -o and the run's name with --batch-name.");
  Settings s = with_flags(flags, load_settings_file(file, Settings{}, notes), notes);
  s.resume_run = true;
  s.run_to_resume = std::to_string(run);
  s.validate();
  return s;
}

}  // namespace

Settings build_settings(const RunFlags& flags, std::vector<std::string>* notes) {
  Settings s;
  if (!flags.settings_file.empty()) s = load_settings_file(flags.settings_file, s, notes);
  if (!flags.from_image.empty()) s = from_image_settings(flags, s, notes);
  s = with_flags(flags, s, notes);
  if (flags.resume_option && flags.resume_option->count() > 0) s = resume_settings(flags, s, notes);
  return s;
}

}  // namespace disco::cli
