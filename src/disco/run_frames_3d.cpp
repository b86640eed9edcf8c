// DD's 3D animation around each frame's diffusion (dd-spec §11.4-11.6, disco.py do_run's 3D branch,
// do_3d_step, generate_eye_views): the depth-based warp of the previous frame, turbo's skipped
// frames and blends, and the VR eye views. DD's scratch files (prevFrame.png, prevFrameScaled.png,
// oldFrameScaled.png) are kept in memory, in Frames3D.
#include <cmath>
#include <string>

#include "animation/warp_3d.h"
#include "common/error.h"
#include "disco/run_phases.h"

namespace disco::run_detail {
namespace {

animation::Warp3DOptions warp_options_of(const Settings& s) {
  animation::Warp3DOptions o;
  o.near_plane = s.near_plane;
  o.far_plane = s.far_plane;
  o.fov = s.fov;
  o.sampling_mode = s.sampling_mode;
  o.padding_mode = s.padding_mode;
  return o;
}

// Under a GPU budget the sampler's big networks wait in host memory while the depth networks use
// the device (LoadedModels::take_turns_with_depth).
class SamplerOffDevice {
 public:
  explicit SamplerOffDevice(LoadedModels& m) : m_(m) { place(torch::kCPU); }
  ~SamplerOffDevice() { place(m_.device); }
  SamplerOffDevice(const SamplerOffDevice&) = delete;
  SamplerOffDevice& operator=(const SamplerOffDevice&) = delete;

 private:
  LoadedModels& m_;
  void place(const torch::Device& device) {
    if (!m_.take_turns_with_depth) return;
    m_.unet->to(device);
    if (!m_.secondary.is_empty()) m_.secondary->to(device);
  }
};

at::Tensor estimate_depth(LoadedModels& m, const io::Image8& image, double midas_weight) {
  SamplerOffDevice off(m);
  return m.depth->estimate(image, midas_weight);
}

// do_3d_step: `image` moved by frame f's camera, through its depth estimate.
io::Image8 warp_3d_step(const RunInputs& in, LoadedModels& m, const io::Image8& image, int frame) {
  const Motion& mo = in.motion;
  const auto camera = animation::dd_3d_camera_move(mo.translation_x[frame], mo.translation_y[frame],
                                                   mo.translation_z[frame], mo.rotation_3d_x[frame],
                                                   mo.rotation_3d_y[frame], mo.rotation_3d_z[frame], m.device);
  const at::Tensor depth = estimate_depth(m, image, in.settings.midas_weight);
  return animation::transform_image_3d(image, depth, camera, warp_options_of(in.settings));
}

int turbo_steps_of(const Settings& s) { return std::stoi(s.turbo_steps); }

}  // namespace

void begin_3d_frames(const RunInputs& in, Frames3D& st) {
  if (!in.resume) return;
  // DD reads the resumed run's last frame file back; with turbo past its preroll it also becomes
  // the second warp sequence (shutil.copyfile to oldFrameScaled.png).
  st.prev_frame = in.resume->previous;
  if (in.settings.turbo_mode && in.resume->start_frame > in.settings.turbo_preroll) st.old_scaled = st.prev_frame;
}

std::optional<ImageStart> start_3d_frame(const RunInputs& in, LoadedModels& m, Frames3D& st, int frame,
                                         RunOutputs& outputs, const Callbacks& cb) {
  const Settings& s = in.settings;
  DISCO_CHECK(m.depth, RuntimeError, "3D mode needs the depth models, but none are loaded.");
  log(cb, detail::concat("frame ", frame, ": depth estimate and 3D warp"));
  st.prev_scaled = warp_3d_step(in, m, st.prev_frame, frame);
  const int n = turbo_steps_of(s);
  if (s.turbo_mode && frame == s.turbo_preroll) st.old_scaled = st.prev_scaled;
  if (s.turbo_mode && frame > s.turbo_preroll) {
    DISCO_CHECK(st.old_scaled.has_value(), RuntimeError, "turbo has no older warp to blend at frame ", frame, ".");
    log(cb, detail::concat("frame ", frame, ": turbo, the older frame's warp"));
    st.old_scaled = warp_3d_step(in, m, *st.old_scaled, frame);
    if (frame % n != 0) {  // turbo skips the diffusion: the file is a blend of the two warps
      const double beta = static_cast<double>(frame % n + 1) / n;
      log(cb, detail::concat("frame ", frame, ": turbo blend, no diffusion"));
      outputs.write_frame(frame, animation::add_weighted(st.prev_scaled, beta, *st.old_scaled, 1 - beta));
      st.prev_frame = st.prev_scaled;
      return std::nullopt;
    }
    st.old_scaled = st.prev_scaled;
  }
  // Every diffused frame after the first is written blended with its own init under turbo.
  outputs.blend_next_final(s.turbo_mode ? std::optional<io::Image8>(st.prev_scaled) : std::nullopt, 1.0 / n);
  return ImageStart{io::to_tensor(st.prev_scaled).to(m.device), s.calc_frames_skip_steps(), s.frames_scale};
}

void write_vr_views(const RunInputs& in, LoadedModels& m, int frame, RunOutputs& outputs, const Callbacks& cb) {
  const Settings& s = in.settings;
  log(cb, detail::concat("frame ", frame, ": VR eye views"));
  const io::Image8& image = outputs.last_image();  // DD reads the frame's file back
  const at::Tensor depth = estimate_depth(m, image, s.midas_weight);  // DD estimates it once per eye, alike
  animation::Warp3DOptions o = warp_options_of(s);
  o.spherical = true;
  io::Image8 views[2];
  for (int eye = 0; eye < 2; ++eye) {  // 0: left
    const double theta = s.vr_eye_angle * (M_PI / 180);
    const double origin = std::cos(theta) * s.vr_ipd / 2 * (eye == 0 ? -1.0 : 1.0);
    // DD's translate [-origin/200, 0, 0] and rotation [0, ±theta, 0] radians, as a camera move.
    const auto camera = animation::dd_3d_camera_move(origin, 0, 0, 0, eye == 0 ? s.vr_eye_angle : -s.vr_eye_angle, 0,
                                                     m.device);
    views[eye] = animation::transform_image_3d(image, depth, camera, o);
  }
  outputs.write_eye_views(frame, views[0], views[1]);
}

}  // namespace disco::run_detail
