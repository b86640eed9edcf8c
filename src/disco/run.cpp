// The run (dd-spec §1, §4, §12, §14): check every input, load the models, build the prompt
// targets, then for each of n_batches images run the guided DDIM or PLMS loop and write the
// unguided x̂0 of its steps (QUIRK(dd-spec §15.1)).
#include "disco/run.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>

#include "common/device.h"
#include "common/error.h"
#include "common/side_stream.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "disco/memory_plan.h"
#include "disco/perlin.h"
#include "disco/prompts.h"
#include "disco/run_internal.h"
#include "disco/schedule_string.h"
#include "disco/symmetry.h"
#include "guidance/augmentations.h"
#include "guidance/cond_fn.h"
#include "guidance/targets.h"
#include "io/image.h"
#include "io/pil_resize.h"

namespace disco {
namespace {
namespace fs = std::filesystem;
namespace dd = diffusion;
namespace dg = guidance;
using namespace run_detail;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// The loop steps at which the prompt set in force may change: every key of either schedule.
std::vector<int64_t> prompt_segments(const PromptSchedule& text, const PromptSchedule& image, int64_t loop_steps) {
  std::vector<int64_t> starts = {0};
  for (const auto* sched : {&text, &image})
    for (int64_t k : sched->keys())
      if (k > 0 && k < loop_steps) starts.push_back(k);
  std::sort(starts.begin(), starts.end());
  starts.erase(std::unique(starts.begin(), starts.end()), starts.end());
  return starts;
}

// Every text prompt tokenised up front, so a prompt over 77 tokens stops the run before the
// large models are read.
void check_text_prompts(const PromptSchedule& text_prompts, const clip::CLIPTokenizer& tokenizer) {
  for (const auto& [step, prompts] : text_prompts.entries())
    for (const auto& p : prompts) {
      try {
        tokenizer.tokenize(p.text_to_encode());
      } catch (const SettingsError& e) {
        throw SettingsError(detail::concat("text_prompts at step ", step, ": ", e.what()));
      }
    }
}

// Seeds DD's generators for the run (dd-spec §14, §15.22): one CPU generator (crops, augmentation
// parameters, fuzzy noise) and the device generator (x_T, augmentation noise, DDIM noise); on a
// CPU run both are the same generator, as torch.manual_seed makes them in DD.
struct Generators {
  at::Generator cpu, device;
};
Generators seed_generators(uint32_t seed, const torch::Device& device) {
  Generators g;
  g.cpu = dg::make_cpu_generator(seed);
  if (device.is_cpu()) {
    g.device = g.cpu;
  } else {
    g.device = at::globalContext().defaultGenerator(device);
    std::lock_guard<std::mutex> lock(g.device.mutex());
    g.device.set_current_seed(seed);
  }
  return g;
}

std::string summary_line(const Settings& s, const LoadedModels& m, uint32_t seed) {
  std::ostringstream os;
  std::string clips;
  for (const auto& c : m.clip) clips += (clips.empty() ? "" : "+") + c.first;
  os << "disco: " << m.diffusion_name << (s.use_secondary_model ? " + secondary" : "") << ", CLIP " << clips << " | "
     << s.side_x() << "x" << s.side_y() << " | " << s.steps << " steps (skip " << s.skip_steps << "), "
     << s.diffusion_sampling_mode << " | " << s.n_batches << (s.n_batches == 1 ? " image" : " images") << " | seed "
     << seed << " | " << m.device.str() << " | " << (m.fast ? "fast precision" : m.mixed ? "mixed precision" : "fp32");
  return os.str();
}

}  // namespace

RunResult run(const Settings& settings, const RunOptions& options, const Callbacks& cb,
              std::shared_ptr<LoadedModels> models) {
  const auto t_start = Clock::now();
  Settings s = settings;
  s.validate();
  DISCO_CHECK(s.batch_size == 1, SettingsError, "setting 'batch_size' is ", s.batch_size,
              ", but DD (and this port) guide one image at a time: use n_batches for more images.");
  const PromptSchedule text_prompts = s.still_text_prompts(), image_prompts = s.still_image_prompts();
  check_prompt_weights(text_prompts, image_prompts, s.fuzzy_prompt);
  const uint32_t seed = resolve_seed(s);
  s.seed = seed;  // recorded in every file the run writes

  // Inputs read before any model: a missing or unreadable image stops the run at once.
  std::optional<io::Image8> init_image;
  if (s.init_image) init_image = read_input_image(*s.init_image, "init_image", options.input_dir);
  std::map<std::string, io::Image8> prompt_images;
  for (const auto& [step, prompts] : image_prompts.entries())
    for (const auto& p : prompts)
      if (!prompt_images.count(p.text))
        prompt_images[p.text] = read_input_image(p.text, "image prompt", options.input_dir);

  if (!models) {
    models = std::make_shared<LoadedModels>();
    models->device = resolve_device(options.device);
    models->mixed = resolve_mixed(options.precision, models->device);
    models->tokenizer = load_tokenizer(options, cb);
    check_text_prompts(text_prompts, *models->tokenizer);
    load_networks(*models, s, options, cb);
    set_fast(*models, options.precision == "fast");
  } else {
    check_text_prompts(text_prompts, *models->tokenizer);
    s.diffusion_model = models->diffusion_name;
    if (models->diffusion_name == "custom") s.custom_path = models->diffusion_path;
    DISCO_CHECK(!s.use_secondary_model || !models->secondary.is_empty(), SettingsError,
                "use_secondary_model is on, but the loaded models have no secondary model.");
  }
  LoadedModels& m = *models;
  s.validate();  // the diffusion model may have been set from the file
  const torch::Device device = m.device;
  const int side_x = s.side_x(), side_y = s.side_y();
  const double load_seconds = seconds_since(t_start);

  const dd::DiffusionSchedule schedule = dd::dd_schedule(s.steps);
  const int64_t first = dd::first_index(schedule, s.skip_steps);
  const int64_t loop_steps = first + 1;  // L = steps - skip_steps
  const int total_steps = static_cast<int>(loop_steps - 1);

  RunResult result;
  result.seed = seed;
  result.summary = summary_line(s, m, seed);
  log(cb, result.summary);
  if (s.text_prompts.keys().size() > 1 || s.image_prompts.keys().size() > 1)
    log(cb, s.prompt_keys == PromptKeys::Frame
                ? "prompt_keys is 'frame' (DD's meaning): a still image is frame 0 and uses the first prompt entries"
                : "prompt_keys is 'step': the prompts switch at the sampler steps of their keys");

  // Per frame (dd-spec §14): seed, then the targets per CLIP model, then the Perlin init.
  Generators gen = seed_generators(seed, device);
  dg::TargetOptions target_options{s.fuzzy_prompt, s.rand_mag, s.skip_augs};
  const std::vector<int64_t> segments = prompt_segments(text_prompts, image_prompts, loop_steps);
  std::vector<std::vector<dg::ClipGuide>> guides;  // per segment, per CLIP model
  {
    torch::NoGradGuard no_grad;
    for (int64_t start : segments) {
      std::vector<dg::TextTarget> texts;
      for (const auto& p : text_prompts.at(start)) texts.push_back({p.text_to_encode(), p.weight});
      std::vector<dg::ImageTarget> images;
      for (const auto& p : image_prompts.at(start)) {
        const auto resized = io::resize_image_prompt(prompt_images.at(p.text), side_x, side_y);
        images.push_back({io::to_tensor(resized).to(device), p.weight});
      }
      std::vector<dg::ClipGuide> per_model;
      for (auto& [label, model] : m.clip)
        per_model.push_back(dg::make_clip_guide(model, *m.tokenizer, texts, images, target_options, gen.cpu, gen.device));
      guides.push_back(std::move(per_model));
    }
  }
  torch::Tensor init;
  if (init_image) init = io::to_tensor(io::resize_lanczos(*init_image, side_x, side_y)).to(device);
  const auto perlin_mode = perlin_mode_from_string(s.perlin_mode);
  if (s.perlin_init) init = regen_perlin(perlin_mode, side_x, side_y, 1, gen.device, device).init;

  // GPU memory: checkpointing for a gradient through the UNet, the CLIP text encoders parked on
  // the CPU while sampling, and as many cuts per CLIP pass as the budget allows.
  if (!m.unet.is_empty()) m.unet->set_gradient_checkpointing(s.use_checkpoint);
  if (!m.unet.is_empty()) m.unet->set_channels_last(options.channels_last);
  if (!m.secondary.is_empty()) m.secondary->set_gradient_checkpointing(s.use_checkpoint && device.is_cuda());
  if (options.cudnn_benchmark) enable_cudnn_benchmark(device);
  ParkedTextEncoders parked(m);
  MemoryEstimate planned;
  const int64_t cuts_per_pass = plan_memory(s, m, options, cb, &planned);
  std::optional<ImageEncoderParking> parking;
  if (planned.parked > 0) parking.emplace(m);
  std::optional<SideStream> side;
  if (planned.overlap_sampler) side.emplace(device);

  dg::CondFnModels cm;
  cm.schedule = &schedule;
  cm.use_secondary_model = s.use_secondary_model;
  cm.secondary = m.secondary;
  auto unet = m.unet;
  const dd::NetworkFn network = [unet](const torch::Tensor& x, const torch::Tensor& t) mutable {
    return unet->forward(x, t);
  };
  cm.network = network;
  const dd::NetworkFn sampler_network = parking ? with_parking(network, &*parking) : network;
  cm.clip = guides.front();
  if (needs_lpips(s)) cm.lpips = m.lpips;
  dg::CondFn cond(cm, cond_fn_settings(s, cuts_per_pass, planned.models_per_cut_call > 1));

  int64_t cur_t = first;  // DD's global counter (dd-spec §15.17)
  // Without the secondary model, cond_fn's UNet evaluation (with gradients) is also the sampler's.
  const dd::Denoiser guided = dd::with_shared_condition_score(
      sampler_network, cond.as_sampler_guidance(cur_t, gen.cpu, gen.device), schedule, s.clip_denoised,
      side ? &*side : nullptr);
  const bool plms = s.diffusion_sampling_mode == "plms";
  const bool symmetry = !plms && (s.use_horizontal_symmetry || s.use_vertical_symmetry);
  const SymmetrySchedule symmetry_steps(loop_steps, s.transformation_percent);

  // Nothing is written before this point.
  const std::string folder = output_folder(s, options);
  const int run_number = next_run_number(folder, s.batch_name);
  const bool partials = s.intermediates_in_subfolder &&
                        (s.intermediate_saves.steps ? !s.intermediate_saves.steps->empty() : s.intermediate_saves.count != 0);
  const std::string partial_folder = (fs::path(folder) / "partials").string();
  const std::string progress_path = (fs::path(folder) / "progress.png").string();
  result.folder = folder;
  result.run_number = run_number;
  const auto ensure_folder = [](const std::string& f) {
    std::error_code ec;
    fs::create_directories(f, ec);
    DISCO_CHECK(!ec, RuntimeError, "cannot create the output folder '", f, "': ", ec.message(), ".");
  };

  const auto t_sampling = Clock::now();
  torch::NoGradGuard no_grad;
  int batch = 0;
  try {
    for (; batch < s.n_batches; ++batch) {
      log(cb, "image " + std::to_string(batch + 1) + "/" + std::to_string(s.n_batches));
      const auto t_image = Clock::now();
      if (s.perlin_init) init = regen_perlin(perlin_mode, side_x, side_y, 1, gen.device, device).init;
      cond.models().init = needs_lpips(s) ? init : torch::Tensor();
      const auto noise = torch::randn({1, 3, side_y, side_x}, gen.device, torch::TensorOptions().device(device));
      torch::Tensor x = dd::loop_start(schedule, noise, init, s.skip_steps);
      cur_t = first;
      dd::PlmsState plms_state;
      size_t segment = 0;
      for (int j = 0; j < loop_steps; ++j, --cur_t) {
        if (cb.should_cancel && cb.should_cancel())
          throw CancelledError(detail::concat("stopped at step ", j, " of image ", batch, "; finished images are kept."));
        while (segment + 1 < segments.size() && segments[segment + 1] <= j) ++segment;
        cond.models().clip = guides[segment];
        const int64_t i = first - j;
        dd::StepOutput step;
        if (plms) {
          step = dd::plms_step(schedule, guided, x, i, plms_state, 2);
        } else {
          if (symmetry && symmetry_steps.should_fire(i))
            x = symmetry_transformation(x, s.use_horizontal_symmetry, s.use_vertical_symmetry);
          step = dd::ddim_step(schedule, guided, x, i, s.eta, gen.device);
        }
        x = step.sample;
        ++result.steps_done;

        const bool last = j == total_steps;
        const bool intermediate = is_intermediate_step(s, j);
        const bool display = j % s.display_rate == 0 || last;
        if (display || intermediate) {
          const io::Image8 image = io::from_tensor(step.pred_xstart.to(torch::kCPU));  // QUIRK(dd-spec §15.2)
          ensure_folder(folder);
          if (display) {
            io::write_png(progress_path, image);
            if (cb.on_preview) cb.on_preview(progress_path, j);
          }
          if (intermediate) {
            const std::string dir = partials ? partial_folder : folder;
            ensure_folder(dir);
            const std::string path = (fs::path(dir) / intermediate_name(s, run_number, batch, j, total_steps)).string();
            io::write_png(path, image);
            if (cb.on_preview) cb.on_preview(path, j);
          }
          if (last) {
            // DD writes the settings with the first finished image of the run.
            if (result.settings_file.empty()) {
              result.settings_file =
                  (fs::path(folder) / (s.batch_name + "(" + std::to_string(run_number) + ")_settings.txt")).string();
              write_text_atomic(result.settings_file, to_settings_text(s));
            }
            const std::string path = (fs::path(folder) / final_name(s, run_number, batch, j, total_steps)).string();
            io::write_png(path, image, final_png_text(s, m, batch));
            result.images.push_back(path);
          }
        }
        if (cb.on_progress) cb.on_progress(j + 1, static_cast<int>(loop_steps), seconds_since(t_image));
      }
    }
  } catch (const c10::Error& e) {
    const std::string what = e.what_without_backtrace();
    if (what.find("out of memory") == std::string::npos) throw;
    throw RuntimeError(detail::concat(
        "the GPU ran out of memory during image ", batch + 1, " (", result.images.size(),
        " finished image(s) are kept). Run again with --max-vram set to the GiB this card can spare (the run then ",
        "takes fewer cuts per CLIP pass), lower width_height, or turn use_secondary_model on. (", what.substr(0, 200),
        ")"));
  }
  result.load_seconds = load_seconds;
  result.sample_seconds = seconds_since(t_sampling);
  return result;
}

}  // namespace disco
