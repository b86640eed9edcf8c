// DD's 2D and 3D animations (dd-spec §11.2-11.6, §14): per frame, reseed with seed + frame, take
// the frame's prompts, start from the previous frame's bytes warped by the frame's motion (2D here,
// 3D in run_frames_3d.cpp), and make the image with the frame's init_scale and skip_steps.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "animation/warp_2d.h"
#include "common/error.h"
#include "diffusion/schedule.h"
#include "disco/perlin.h"
#include "disco/run_phases.h"

namespace disco::run_detail {
namespace {
namespace dd = diffusion;
using Clock = std::chrono::steady_clock;

// Frame 0 starts as a still image. Every later frame starts from the previous frame's bytes (DD
// reads back prevFrame.png) warped with cv2.warpPerspective; DD then reads the warped file back
// as its init image, at the size it already has.
ImageStart frame_start(const RunInputs& in, int frame, const io::Image8& previous, const torch::Device& device) {
  const Settings& s = in.settings;
  if (frame == 0) return still_start(in, device);
  const Motion& mo = in.motion;
  const auto matrix = animation::dd_2d_matrix(previous.width, previous.height, mo.angle[frame], mo.zoom[frame],
                                              mo.translation_x[frame], mo.translation_y[frame]);
  const io::Image8 warped = animation::warp_perspective_wrap(previous, matrix);
  return {io::to_tensor(warped).to(device), s.calc_frames_skip_steps(), s.frames_scale};
}

std::string clock_text(double seconds) {
  const long t = std::lround(seconds);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

// "frame 3/10", with the time left once a frame after frame 0 (the usual kind) is done in this run.
std::string frame_line(int frame, int first, int frames, double later_frames_seconds) {
  std::string line = detail::concat("frame ", frame + 1, "/", frames);
  const int later_done = frame - std::max(first, 1);
  if (later_done >= 1)
    line += ", about " + clock_text(later_frames_seconds / later_done * (frames - frame)) + " left";
  return line;
}

// The frame's start: a still image's at frame 0, else the previous frame warped; nullopt when
// 3D turbo skips the frame's diffusion.
std::optional<ImageStart> start_of_frame(RunInputs& in, LoadedModels& m, Frames3D& st, int frame, RunOutputs& outputs,
                                         const Callbacks& cb) {
  if (frame == 0 || in.settings.animation_mode != AnimationMode::ThreeD)
    return frame_start(in, frame, outputs.last_image(), m.device);
  return start_3d_frame(in, m, st, frame, outputs, cb);
}

void make_frame(RunInputs& in, LoadedModels& m, Sampling& sp, Frames3D& st, int frame, const RunOptions& options,
                const Callbacks& cb, RunOutputs& outputs, RunResult& result) {
  const Settings& s = in.settings;
  std::optional<ImageStart> started = start_of_frame(in, m, st, frame, outputs, cb);
  if (started) {
    ImageStart& start = *started;
    Generators gen = seed_generators(*s.seed + static_cast<uint32_t>(frame), m.device);
    in.text_prompts = s.frame_text_prompts(frame);
    in.image_prompts = s.frame_image_prompts(frame);
    const int64_t loop_steps = dd::first_index(dd::dd_schedule(s.steps), start.skip_steps) + 1;
    const PromptTargets targets = build_prompt_targets(in, m, loop_steps, gen);
    if (s.perlin_init)  // as for a still image: drawn before the batch loop and again for its one batch
      for (int draw = 0; draw < 2; ++draw)
        start.init = regen_perlin(s.perlin_mode, s.side_x(), s.side_y(), 1, gen.device, m.device).init;

    ParkedTextEncoders parked(m);
    GuidedDenoiser& guided = denoiser_for(sp, s, m, targets, options);
    const auto sink = [&](int j, int total, const dd::StepOutput& step) {
      ++result.steps_done;
      outputs.write_step(frame, j, total, step.pred_xstart, cb);
    };
    make_image(guided, s, targets, start, gen, cb, sink, "frame " + std::to_string(frame));
    st.prev_frame = outputs.last_made();
  }
  if (s.vr_mode) write_vr_views(in, m, frame, outputs, cb);
}

}  // namespace

void make_frames(RunInputs& in, LoadedModels& m, const RunOptions& options, const Callbacks& cb, RunOutputs& outputs,
                 RunResult& result) {
  const Settings& s = in.settings;
  Sampling sp;
  plan_sampling(sp, s, m, options, cb);
  int frame = 0;
  Frames3D st;
  if (s.animation_mode == AnimationMode::ThreeD) begin_3d_frames(in, st);
  if (in.resume) {  // the last check is done: files may move now
    retain_frames(s, *in.resume, output_folder(s, options));
    outputs.continue_run(in.resume->run_number, std::move(in.resume->previous));
    frame = in.resume->start_frame;
    log(cb, detail::concat("resuming run ", in.resume->run_number, " at frame ", frame, " of ", s.max_frames));
  }
  const int first = frame;
  double later_frames_seconds = 0;
  try {
    for (; frame < s.max_frames; ++frame) {
      log(cb, frame_line(frame, first, s.max_frames, later_frames_seconds));
      const auto t0 = Clock::now();
      make_frame(in, m, sp, st, frame, options, cb, outputs, result);
      if (frame > 0) later_frames_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
    }
  } catch (const c10::Error& e) {
    if (!is_out_of_memory(e)) throw;
    throw out_of_memory(e, "frame " + std::to_string(frame), result.images.size());
  }
}

}  // namespace disco::run_detail
