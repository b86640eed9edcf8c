// The phases of a run (not part of the API), in the order run() takes them:
//   resolve_inputs -> (load the models) -> build_prompt_targets -> plan_memory ->
//   for each image: make_image, with RunOutputs writing DD's files from its steps.
// make_image is the unit an animation frame or a server job runs: one image from a start.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "disco/guided_denoiser.h"
#include "disco/run_internal.h"
#include "io/gif.h"
#include "io/image.h"

namespace disco::run_detail {

// The 2D motion of every frame (dd-spec §11.1, §11.3), from the key-frame settings.
struct Motion2D {
  std::vector<double> angle, zoom, translation_x, translation_y;
};
// Throws SettingsError for a zoom that is not > 0 after frame 0; DD's notes go to `notes`.
Motion2D motion_2d(const Settings& s, std::vector<std::string>* notes);

// Where a resumed animation continues (DD's "Do the Run" cell): the run, the first frame to
// make, the frames on disk and the frame before the first (read up front).
struct ResumePoint {
  int run_number = 0;
  int start_frame = 0;
  int frames_on_disk = 0;
  io::Image8 previous;
};
// For resume_run: throws SettingsError when there is no such run or the frame to continue from is
// missing. Without a seed of their own the settings take the run's seed (a note says so).
ResumePoint find_resume_point(Settings& s, const std::string& folder, std::vector<std::string>* notes);
// retain_overwritten_frames with a resume_from_frame number: the frames to be made again move to
// <folder>/retained/, as DD's cell moves them.
void retain_frames(const Settings& s, const ResumePoint& r, const std::string& folder);

// What the run reads before any model, checked: a missing or unreadable image stops the run
// before anything is loaded or written.
struct RunInputs {
  Settings settings;                            // validated, with the run seed set
  // A still image: the schedules it follows (prompt_keys). An animation: every frame's prompts,
  // keyed by frame.
  PromptSchedule text_prompts, image_prompts;
  std::optional<io::Image8> init_image;
  std::map<std::string, io::Image8> prompt_images;  // by the image prompt's path
  Motion2D motion;                              // an animation's motion per frame
  std::optional<ResumePoint> resume;            // resume_run
  std::vector<std::string> notes;               // remarks for the log (DD's key-frame fallback)
};
RunInputs resolve_inputs(const Settings& settings, const RunOptions& options);

// DD's generators (dd-spec §14, §15.22): one CPU generator (crops, augmentation parameters,
// fuzzy noise) and the device generator (x_T, augmentation noise, DDIM noise); on a CPU run both
// are the same generator, as torch.manual_seed makes them in DD. Both are the run's own
// (make_device_generator): libtorch's default generators are neither seeded nor drawn from, so
// runs on other threads do not move this run's numbers.
struct Generators {
  at::Generator cpu, device;
};
Generators seed_generators(uint32_t seed, const torch::Device& device);

// The CLIP targets of each prompt set in force, per CLIP model, and the loop steps from which
// each set applies (a set per key of either schedule, the first from step 0).
struct PromptTargets {
  std::vector<int64_t> starts;
  std::vector<std::vector<guidance::ClipGuide>> guides;
  size_t segment_at(int64_t j) const;  // the index of the set in force at loop step j
};
PromptTargets build_prompt_targets(const RunInputs& in, LoadedModels& m, int64_t loop_steps, Generators& gen);

// Where an image starts: the init (on the device, [1, 3, H, W] in [-1, 1]; undefined: noise
// alone) q-sampled at skip_steps, and the scale of the LPIPS init loss that compares with it.
struct ImageStart {
  torch::Tensor init;
  int skip_steps = 0;
  double init_scale = 0;
};

// A still image's start, and an animation's frame 0: the init image stretched to the output size
// (undefined without one), with the settings' skip_steps and init_scale.
ImageStart still_start(const RunInputs& in, const torch::Device& device);

// Loop step j (0-based) of total_steps + 1, and what the sampler made of it.
using StepSink = std::function<void(int j, int total_steps, const diffusion::StepOutput& step)>;

// One image: x_T drawn from the device generator, then the guided DDIM or PLMS loop from the
// start's index, switching prompt sets at their steps and firing the symmetry schedule; every
// step goes to `sink`. Returns the last step's x̂0, [1, 3, H, W] in [-1, 1]. `label` names the
// image in the message of a cancel (CancelledError).
torch::Tensor make_image(GuidedDenoiser& guided, const Settings& s, const PromptTargets& targets,
                         const ImageStart& start, Generators& gen, const Callbacks& cb, const StepSink& sink,
                         const std::string& label);

// What the images of a run share: the memory plan, made with the text encoders parked as they
// are while sampling, and the guided denoiser, built with the first image's targets.
struct Sampling {
  int64_t cuts_per_pass = 0;
  MemoryEstimate planned;
  std::optional<GuidedDenoiser> guided;
};
void plan_sampling(Sampling& sp, const Settings& s, LoadedModels& m, const RunOptions& options, const Callbacks& cb);
GuidedDenoiser& denoiser_for(Sampling& sp, const Settings& s, LoadedModels& m, const PromptTargets& targets,
                             const RunOptions& options);

// The error for a CUDA out-of-memory during `what` (e.g. "frame 3"), saying what to lower.
bool is_out_of_memory(const c10::Error& e);
RuntimeError out_of_memory(const c10::Error& e, const std::string& what, size_t finished);

// DD's files of a run (dd-spec §12): progress.png every display_rate steps and at the last step,
// intermediate saves (partials/ or the folder), the final image with the settings embedded, and
// the settings file with the run's first final image. Writes nothing until the first file.
class RunOutputs {
 public:
  RunOutputs(const Settings& s, const LoadedModels& m, const RunOptions& o, RunResult& result);
  // The files of loop step j of image `index`: the batch index of a still image, the frame of an
  // animation.
  void write_step(int index, int j, int total_steps, const torch::Tensor& pred_xstart, const Callbacks& cb);
  // The bytes of the last final image written (what DD reads back as prevFrame.png).
  const io::Image8& last_image() const { return last_image_; }
  // A resumed run: files go on under `run_number`, whose settings file stays as it is, and the
  // next frame continues from `previous`.
  void continue_run(int run_number, io::Image8 previous);

 private:
  const Settings& s_;
  const LoadedModels& m_;
  RunResult& result_;
  std::string folder_, partial_folder_, progress_path_;
  bool partials_ = false;
  io::Image8 last_image_;
  // The GIF of the image in progress (gif on): opened with its first progress image, finished at
  // its last step. One left unfinished (a cancelled or failed run) removes its file.
  std::unique_ptr<io::GifWriter> gif_;
  int gif_index_ = -1;
  void add_gif_frame(int index, int batch, int frame, bool last, const io::Image8& image);
};

// DD's 2D animation (dd-spec §11.2, §11.3): frame f seeded with seed + f, its prompts the
// frame's entries; frame 0 starts as a still image, every later one from the previous frame's
// bytes warped by the frame's motion, with init_scale = frames_scale and skip_steps =
// calc_frames_skip_steps. Writes each frame as "<name>(<run>)_<frame:04>.png".
void make_frames(RunInputs& in, LoadedModels& m, const RunOptions& options, const Callbacks& cb, RunOutputs& outputs,
                 RunResult& result);

}  // namespace disco::run_detail
