// The run (dd-spec §1, §4, §12, §14) as a sequence of phases (run_phases.h): check every input,
// load the models, build the prompt targets, plan the memory, then make each of n_batches images
// and write DD's files from its steps: the unguided x̂0 of each step (QUIRK(dd-spec §15.1)).
#include "disco/run.h"

#include <chrono>
#include <optional>
#include <sstream>

#include "common/device.h"
#include "common/error.h"
#include "diffusion/schedule.h"
#include "disco/execution.h"
#include "disco/memory_plan.h"
#include "disco/perlin.h"
#include "disco/run_phases.h"

namespace disco {
namespace {
namespace dd = diffusion;
using namespace run_detail;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Every text prompt tokenised up front, so a prompt over 77 tokens stops the run before the
// large models are read; with truncate_prompts it is cut instead, and a note says so.
void check_text_prompts(const RunInputs& in, const clip::CLIPTokenizer& tokenizer, std::vector<std::string>& notes) {
  for (const auto& [key, prompts] : in.text_prompts.entries())
    for (const auto& p : prompts) {
      try {
        tokenizer.tokenize(p.text_to_encode());
      } catch (const SettingsError& e) {
        if (!in.settings.truncate_prompts) throw SettingsError(detail::concat("text_prompts at ", key, ": ", e.what()));
        notes.push_back("the text prompt \"" + p.original + "\" is over CLIP's 77 tokens: it is cut to fit "
                        "(truncate_prompts)");
      }
    }
}

// The models the run needs: `given` (checked against the settings) or loaded now. May set the
// settings' diffusion_model / custom_path to what the loaded file is.
std::shared_ptr<LoadedModels> models_for(RunInputs& in, const RunOptions& options, const Callbacks& cb,
                                         std::shared_ptr<LoadedModels> given) {
  Settings& s = in.settings;
  if (!given) {
    auto m = std::make_shared<LoadedModels>();
    m->device = resolve_device(options.device);
    m->mixed = resolve_mixed(options.precision, m->device);
    m->tokenizer = load_tokenizer(options, cb);
    check_text_prompts(in, *m->tokenizer, in.notes);
    load_networks(*m, s, options, cb);
    set_fast(*m, options.precision == "fast");
    return m;
  }
  check_text_prompts(in, *given->tokenizer, in.notes);
  s.diffusion_model = given->diffusion_name;
  if (given->diffusion_name == "custom") s.custom_path = given->diffusion_path;
  DISCO_CHECK(!s.use_secondary_model || !given->secondary.is_empty(), SettingsError,
              "use_secondary_model is on, but the loaded models have no secondary model.");
  DISCO_CHECK(s.animation_mode != AnimationMode::ThreeD || given->depth, SettingsError,
              "animation_mode is 3D, but the loaded models have no depth models.");
  DISCO_CHECK(!run_detail::needs_lpips(s) || !given->lpips.is_empty(), SettingsError,
              "these settings need LPIPS (an init image or animation frames with an init loss), but the loaded "
              "models have none: load the models with these settings (model_needs tells which runs can share them).");
  return given;
}

std::string images_text(const Settings& s) {
  if (s.animation_mode != AnimationMode::None)
    return detail::concat(animation_mode_name(s.animation_mode), " animation, ", s.max_frames,
                          s.max_frames == 1 ? " frame" : " frames");
  return detail::concat(s.n_batches, s.n_batches == 1 ? " image" : " images");
}

std::string summary_line(const Settings& s, const LoadedModels& m) {
  std::ostringstream os;
  std::string clips;
  for (const auto& c : m.clip) clips += (clips.empty() ? "" : "+") + c.first;
  os << "disco: " << m.diffusion_name << (s.use_secondary_model ? " + secondary" : "") << ", CLIP " << clips << " | "
     << s.side_x() << "x" << s.side_y() << " | " << s.steps << " steps (skip " << s.skip_steps << "), "
     << sampling_mode_name(s.diffusion_sampling_mode) << " | " << images_text(s) << " | seed "
     << *s.seed << " | " << m.device.str() << " | " << (m.fast ? "fast precision" : m.mixed ? "mixed precision" : "fp32");
  return os.str();
}

void log_prompt_keys(const Settings& s, const Callbacks& cb) {
  if (s.text_prompts.keys().size() <= 1 && s.image_prompts.keys().size() <= 1) return;
  log(cb, s.prompt_keys == PromptKeys::Frame
              ? "prompt_keys is 'frame' (DD's meaning): a still image is frame 0 and uses the first prompt entries"
              : "prompt_keys is 'step': the prompts switch at the sampler steps of their keys");
}

// The models' per-run switches: checkpointing for a gradient through the UNet (and the
// secondary model on CUDA), the UNet's layout and attention, cuDNN's autotuner.
void configure_models(const Settings& s, LoadedModels& m, const RunOptions& options) {
  apply_execution(m, execution_for(s, options));  // the memory plan adds its levers (plan_sampling)
  if (options.cudnn_benchmark) enable_cudnn_benchmark(m.device);
}

// n_batches still images from one seeded stream (dd-spec §14): the targets, then per image the
// Perlin init when asked for (DD draws it once before the images and again for each).
void make_batches(RunInputs& in, LoadedModels& m, const RunOptions& options, const Callbacks& cb, RunOutputs& outputs,
                  RunResult& result) {
  const Settings& s = in.settings;
  Generators gen = seed_generators(*s.seed, m.device);
  const int64_t loop_steps = dd::first_index(dd::dd_schedule(s.steps), s.skip_steps) + 1;
  const PromptTargets targets = build_prompt_targets(in, m, loop_steps, gen);
  ImageStart start = still_start(in, m.device);
  const auto perlin = [&] { return regen_perlin(s.perlin_mode, s.side_x(), s.side_y(), 1, gen.device, m.device).init; };
  if (s.perlin_init) start.init = perlin();

  Sampling sp;
  plan_sampling(sp, s, m, options, cb);
  ParkedTextEncoders parked(m);
  GuidedDenoiser& guided = denoiser_for(sp, s, m, targets, options);
  int batch = 0;
  try {
    for (; batch < s.n_batches; ++batch) {
      log(cb, "image " + std::to_string(batch + 1) + "/" + std::to_string(s.n_batches));
      if (s.perlin_init) start.init = perlin();
      const auto sink = [&](int j, int total, const dd::StepOutput& step) {
        ++result.steps_done;
        outputs.write_step(batch, j, total, step.pred_xstart, cb);
      };
      make_image(guided, s, targets, start, gen, cb, sink, "image " + std::to_string(batch));
    }
  } catch (const c10::Error& e) {
    if (!is_out_of_memory(e)) throw;
    throw out_of_memory(e, "image " + std::to_string(batch + 1), result.images.size());
  }
}

}  // namespace

RunResult run(const Settings& settings, const RunOptions& options, const Callbacks& cb,
              std::shared_ptr<LoadedModels> models) {
  const auto t_start = Clock::now();
  RunInputs in = resolve_inputs(settings, options);
  models = models_for(in, options, cb, std::move(models));
  LoadedModels& m = *models;
  Settings& s = in.settings;
  s.validate();  // the diffusion model may have been set from the file
  RunResult result;
  result.seed = *s.seed;
  result.summary = summary_line(s, m);
  result.load_seconds = seconds_since(t_start);
  log(cb, result.summary);
  log_prompt_keys(s, cb);
  for (const auto& note : in.notes) log(cb, "note: " + note);

  configure_models(s, m, options);
  RunOutputs outputs(s, m, options, result);  // nothing is written before this point
  const auto t_sampling = Clock::now();
  if (s.animation_mode == AnimationMode::None) make_batches(in, m, options, cb, outputs, result);
  else make_frames(in, m, options, cb, outputs, result);
  result.sample_seconds = seconds_since(t_sampling);
  return result;
}

}  // namespace disco
