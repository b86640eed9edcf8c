// The phases of a run before and inside the image loop: inputs, generators, prompt targets and
// one image (make_image). The files are run_outputs.cpp's.
#include "disco/run_phases.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "common/device.h"
#include "common/error.h"
#include "disco/execution.h"
#include "disco/symmetry.h"
#include "guidance/augmentations.h"
#include "guidance/targets.h"
#include "io/pil_resize.h"

namespace disco::run_detail {
namespace dd = diffusion;
namespace dg = guidance;

RunInputs resolve_inputs(const Settings& settings, const RunOptions& options) {
  RunInputs in;
  in.settings = settings;
  Settings& s = in.settings;
  s.validate();
  DISCO_CHECK(s.batch_size == 1, SettingsError, "setting 'batch_size' is ", s.batch_size,
              ", but DD (and this port) guide one image at a time: use n_batches for more images.");
  // The prompt weights were checked with the settings, at every key of either schedule.
  if (s.animation_mode == AnimationMode::None) {
    in.text_prompts = s.still_text_prompts();
    in.image_prompts = s.still_image_prompts();
  } else {
    in.text_prompts = s.text_prompts;  // every frame's, read up front
    in.image_prompts = s.image_prompts;
    in.motion = frame_motion(s, &in.notes);
  }
  turn_off_outside_3d(s, in.notes);
  if (s.resume_run) in.resume = find_resume_point(s, output_folder(s, options), &in.notes);
  s.seed = resolve_seed(s);  // recorded in every file the run writes
  DISCO_CHECK(s.animation_mode == AnimationMode::None || uint64_t{*s.seed} + s.max_frames - 1 <= 0xFFFFFFFFull,
              SettingsError, "seed ", *s.seed, " + max_frames - 1 is beyond 4294967295 (frame f is seeded with seed + f, ",
              "which DD seeds numpy with); use a smaller seed or fewer frames.");
  if (s.init_image) in.init_image = read_input_image(*s.init_image, "init_image", options);
  for (const auto& [step, prompts] : in.image_prompts.entries())
    for (const auto& p : prompts)
      if (!in.prompt_images.count(p.text))
        in.prompt_images[p.text] = read_input_image(p.text, "image prompt", options);
  return in;
}

void turn_off_outside_3d(Settings& s, std::vector<std::string>& notes) {
  if (s.animation_mode == AnimationMode::ThreeD) return;
  if (s.turbo_mode) notes.push_back("turbo_mode is for 3D animations only; it is off for this run, as DD turns it off.");
  if (s.vr_mode) notes.push_back("vr_mode is for 3D animations only; it is off for this run, as DD turns it off.");
  s.turbo_mode = s.vr_mode = false;
}

Motion frame_motion(const Settings& s, std::vector<std::string>* notes) {
  Motion m;
  const auto series = [&](const std::string& text, const char* key) {
    if (s.key_frames) return animation::key_frame_series(text, s.max_frames, s.interp_spline, key, notes);
    return std::vector<double>(s.max_frames, animation::plain_motion_value(text, key));
  };
  m.angle = series(s.angle, "angle");
  m.zoom = series(s.zoom, "zoom");
  m.translation_x = series(s.translation_x, "translation_x");
  m.translation_y = series(s.translation_y, "translation_y");
  m.translation_z = series(s.translation_z, "translation_z");
  m.rotation_3d_x = series(s.rotation_3d_x, "rotation_3d_x");
  m.rotation_3d_y = series(s.rotation_3d_y, "rotation_3d_y");
  m.rotation_3d_z = series(s.rotation_3d_z, "rotation_3d_z");
  for (int f = 1; f < s.max_frames && s.animation_mode == AnimationMode::TwoD; ++f)
    DISCO_CHECK(m.zoom[f] > 0 && std::isfinite(m.zoom[f]), SettingsError, "setting 'zoom' gives frame ", f, " the zoom ",
                m.zoom[f], "; zoom must stay > 0 (1 = none).");
  return m;
}

ImageStart still_start(const RunInputs& in, const torch::Device& device) {
  const Settings& s = in.settings;
  ImageStart start{torch::Tensor(), s.skip_steps, s.init_scale};
  if (in.init_image)
    start.init = io::to_tensor(io::resize_lanczos(*in.init_image, s.side_x(), s.side_y())).to(device);
  return start;
}

Generators seed_generators(uint32_t seed, const torch::Device& device) {
  Generators g;
  g.cpu = dg::make_cpu_generator(seed);
  g.device = device.is_cpu() ? g.cpu : make_device_generator(device, seed);
  return g;
}

size_t PromptTargets::segment_at(int64_t j) const {
  size_t k = 0;
  while (k + 1 < starts.size() && starts[k + 1] <= j) ++k;
  return k;
}

PromptTargets build_prompt_targets(const RunInputs& in, LoadedModels& m, int64_t loop_steps, Generators& gen) {
  const Settings& s = in.settings;
  PromptTargets out;
  out.starts = {0};
  for (const auto* sched : {&in.text_prompts, &in.image_prompts})
    for (int64_t k : sched->keys())
      if (k > 0 && k < loop_steps) out.starts.push_back(k);
  std::sort(out.starts.begin(), out.starts.end());
  out.starts.erase(std::unique(out.starts.begin(), out.starts.end()), out.starts.end());

  torch::NoGradGuard no_grad;
  const dg::TargetOptions options{s.fuzzy_prompt, s.rand_mag, s.skip_augs, s.truncate_prompts};
  for (int64_t start : out.starts) {
    std::vector<dg::TextTarget> texts;
    for (const auto& p : in.text_prompts.at(start)) texts.push_back({p.text_to_encode(), p.weight});
    std::vector<dg::ImageTarget> images;
    for (const auto& p : in.image_prompts.at(start)) {
      const auto resized = io::resize_image_prompt(in.prompt_images.at(p.text), s.side_x(), s.side_y());
      images.push_back({io::to_tensor(resized).to(m.device), p.weight});
    }
    std::vector<dg::ClipGuide> per_model;
    for (auto& [label, model] : m.clip)
      per_model.push_back(dg::make_clip_guide(model, *m.tokenizer, texts, images, options, gen.cpu, gen.device));
    out.guides.push_back(std::move(per_model));
  }
  return out;
}

RuntimeError out_of_memory(const c10::Error& e, const std::string& what, size_t finished) {
  return RuntimeError(detail::concat(
      "the GPU ran out of memory during ", what, " (", finished,
      " finished image(s) are kept). Run again with --max-vram set to the GiB this card can spare (the run then ",
      "takes fewer cuts per CLIP pass), lower width_height, or turn use_secondary_model on. (",
      std::string(e.what_without_backtrace()).substr(0, 200), ")"));
}

bool is_out_of_memory(const c10::Error& e) {
  return std::string(e.what_without_backtrace()).find("out of memory") != std::string::npos;
}

void plan_sampling(Sampling& sp, const Settings& s, LoadedModels& m, const RunOptions& options, const Callbacks& cb) {
  ParkedTextEncoders parked(m);
  sp.cuts_per_pass = plan_memory(s, m, options, cb, &sp.planned);
  apply_execution(m, execution_for(s, options, sp.planned));
}

GuidedDenoiser& denoiser_for(Sampling& sp, const Settings& s, LoadedModels& m, const PromptTargets& targets,
                             const RunOptions& options) {
  if (!sp.guided)
    sp.guided.emplace(s, m, targets.guides.front(), sp.cuts_per_pass, sp.planned, cutouts_execution(options));
  return *sp.guided;
}

torch::Tensor make_image(GuidedDenoiser& guided, const Settings& s, const PromptTargets& targets,
                         const ImageStart& start, Generators& gen, const Callbacks& cb, const StepSink& sink,
                         const std::string& label) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const auto& schedule = guided.schedule();
  const int64_t first = dd::first_index(schedule, start.skip_steps);
  const int total_steps = static_cast<int>(first);  // loop steps j = 0 .. first
  const bool plms = s.diffusion_sampling_mode == SamplingMode::Plms;
  const bool symmetry = !plms && (s.use_horizontal_symmetry || s.use_vertical_symmetry);
  const SymmetrySchedule symmetry_steps(first + 1, s.transformation_percent);

  torch::NoGradGuard no_grad;
  guided.set_init(start.init, start.init_scale);
  const auto device = start.init.defined() ? start.init.device() : gen.device.device();
  const auto noise = torch::randn({1, 3, s.side_y(), s.side_x()}, gen.device, torch::TensorOptions().device(device));
  torch::Tensor x = dd::loop_start(schedule, noise, start.init, start.skip_steps);
  int64_t cur_t = first;  // DD's global counter (dd-spec §15.17), read by the denoiser at each call
  const dd::Denoiser denoiser = guided.denoiser(cur_t, gen.cpu, gen.device);
  dd::PlmsState plms_state;
  dd::StepOutput step;
  for (int j = 0; j <= total_steps; ++j, --cur_t) {
    if (cb.should_cancel && cb.should_cancel())
      throw CancelledError(detail::concat("stopped at step ", j, " of ", label, "; finished images are kept."));
    guided.set_guides(targets.guides[targets.segment_at(j)]);
    const int64_t i = first - j;
    if (plms) {
      step = dd::plms_step(schedule, denoiser, x, i, plms_state, 2);
    } else {
      if (symmetry && symmetry_steps.should_fire(i))
        x = symmetry_transformation(x, s.use_horizontal_symmetry, s.use_vertical_symmetry);
      step = dd::ddim_step(schedule, denoiser, x, i, s.eta, gen.device);
    }
    x = step.sample;
    sink(j, total_steps, step);
    if (cb.on_progress)
      cb.on_progress(j + 1, total_steps + 1, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return step.pred_xstart;
}

}  // namespace disco::run_detail
