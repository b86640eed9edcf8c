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

// The motion of every frame (dd-spec §11.1, §11.3, §11.4), from the key-frame settings: 2D
// reads angle, zoom and translation_x/y, 3D translation_x/y/z and rotation_3d_x/y/z.
struct Motion {
  std::vector<double> angle, zoom, translation_x, translation_y;
  std::vector<double> translation_z, rotation_3d_x, rotation_3d_y, rotation_3d_z;
};
// Throws SettingsError for a 2D zoom that is not > 0 after frame 0; DD's notes go to `notes`.
Motion frame_motion(const Settings& s, std::vector<std::string>* notes);
// turbo_mode and vr_mode outside 3D mode: off, with a note each, as DD's notebook turns them off.
void turn_off_outside_3d(Settings& s, std::vector<std::string>& notes);

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
  Motion motion;                                // an animation's motion per frame
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
  // The bytes of the last final image written (what DD reads back as prevFrame.png in 2D, and
  // as the frame before a resumed 3D run's first).
  const io::Image8& last_image() const { return last_image_; }
  // The last image the sampler made, before any turbo blend (DD's prevFrame.png in 3D).
  const io::Image8& last_made() const { return last_made_; }
  // 3D turbo (dd-spec §11.5): the next final image is written as cv2.addWeighted(image, weight,
  // with, 1 - weight); nullopt writes it as made.
  void blend_next_final(std::optional<io::Image8> with, double weight);
  // A frame that turbo made without diffusion: its file, as a final image.
  void write_frame(int frame, const io::Image8& image);
  // VR (dd-spec §11.6): frame_<frame:04>_l.png and _r.png in the output folder.
  void write_eye_views(int frame, const io::Image8& left, const io::Image8& right);
  // A resumed run: files go on under `run_number`, whose settings file stays as it is, and the
  // next frame continues from `previous`.
  void continue_run(int run_number, io::Image8 previous);

 private:
  const Settings& s_;
  const LoadedModels& m_;
  RunResult& result_;
  std::string folder_, partial_folder_, progress_path_;
  bool partials_ = false;
  io::Image8 last_image_, last_made_;
  std::optional<io::Image8> blend_with_;
  double blend_weight_ = 1;
  void write_final(const std::string& path, int batch, int frame, const io::Image8& image);
  // The GIF of the image in progress (gif on): opened with its first progress image, finished at
  // its last step. One left unfinished (a cancelled or failed run) removes its file.
  std::unique_ptr<io::GifWriter> gif_;
  int gif_index_ = -1;
  void add_gif_frame(int index, int batch, int frame, bool last, const io::Image8& image);
};

// DD's scratch files of a 3D animation (dd-spec §11.4-11.6), in memory: prevFrame.png (the last
// frame as diffused, or turbo's last warp), prevFrameScaled.png (this frame's warp, its init) and
// oldFrameScaled.png (turbo's second warp sequence).
struct Frames3D {
  io::Image8 prev_frame, prev_scaled;
  std::optional<io::Image8> old_scaled;
};
// A resumed 3D run: the scratch images from the frame file before the first frame to make.
void begin_3d_frames(const RunInputs& in, Frames3D& st);
// Frame f > 0 of a 3D animation, before its diffusion: the previous frame warped (depth estimate,
// camera move) as its init, and turbo's bookkeeping. nullopt when turbo skips the frame's
// diffusion; its blended file is then written.
std::optional<ImageStart> start_3d_frame(const RunInputs& in, LoadedModels& m, Frames3D& st, int frame,
                                         RunOutputs& outputs, const Callbacks& cb);
// vr_mode: the eye views of the frame file just written (frame_NNNN_l.png, _r.png).
void write_vr_views(const RunInputs& in, LoadedModels& m, int frame, RunOutputs& outputs, const Callbacks& cb);

// DD's 2D and 3D animations (dd-spec §11.2-11.6): frame f seeded with seed + f, its prompts the
// frame's entries; frame 0 starts as a still image, every later one from the previous frame's
// bytes warped by the frame's motion, with init_scale = frames_scale and skip_steps =
// calc_frames_skip_steps. Writes each frame as "<name>(<run>)_<frame:04>.png".
void make_frames(RunInputs& in, LoadedModels& m, const RunOptions& options, const Callbacks& cb, RunOutputs& outputs,
                 RunResult& result);

}  // namespace disco::run_detail
