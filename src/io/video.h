// Animation frames into an H.264 video, as DD's "Create video" cell makes it with ffmpeg
// (dd-spec §12): `<name>(<run>)_%04d.png` from init_frame, at most last_frame + 1 frames, libx264,
// yuv420p, CRF 17, preset veryslow, at `fps`. Built with FFmpeg's libraries when they are found
// (an optional component); without them have_video_support() is false and writing throws.
#pragma once
#include <optional>
#include <string>

namespace disco::io {

struct VideoOptions {
  double fps = 12;
  int init_frame = 1;             // DD's default skips frame 0
  std::optional<int> last_frame;  // unset: DD's 'final_frame', every frame on disk
  int crf = 17;
  std::string preset = "veryslow";
};

bool have_video_support();

// DD's file name of an animation frame, `<batch_name>(<run>)_<frame:04>.png`: what the run writes,
// what a resumed run looks for and what the video is made of.
std::string frame_file_name(const std::string& batch_name, int run, int frame);

// Writes <folder>/<batch_name>(<run>).mp4 (atomically) and returns its path. Throws
// SettingsError when there is no frame to encode or the frames differ in size, RuntimeError
// when the build has no video support or the encoder fails.
std::string write_video(const std::string& folder, const std::string& batch_name, int run, const VideoOptions& o);

// What a video file holds, read back with the same libraries (for checks and reports).
struct VideoInfo {
  int width = 0, height = 0;
  int64_t frames = 0;
  std::string codec, pixel_format;
  double fps = 0;
};
VideoInfo probe_video(const std::string& path);

}  // namespace disco::io
