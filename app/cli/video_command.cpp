#include "video_command.h"

#include <filesystem>
#include <iostream>
#include <regex>

namespace disco::cli {
namespace fs = std::filesystem;

namespace {

const std::regex kSettingsName(R"((.+)\((\d{1,9})\)_settings\.txt)");

// The newest run's settings file in `folder` (by modification time).
std::string newest_settings_file(const std::string& folder) {
  fs::path best;
  fs::file_time_type best_time{};
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(folder, ec)) {
    if (!std::regex_match(e.path().filename().string(), kSettingsName)) continue;
    const auto t = fs::last_write_time(e.path(), ec);
    if (best.empty() || t > best_time) best = e.path(), best_time = t;
  }
  DISCO_CHECK(!best.empty(), SettingsError, "video: '", folder,
              "' holds no run (no <name>(<n>)_settings.txt); give an animation's output folder or settings file.");
  return best.string();
}

}  // namespace

std::string video_of_run(const std::string& settings_file, const io::VideoOptions& options) {
  std::smatch m;
  const std::string name = fs::path(settings_file).filename().string();
  DISCO_CHECK(std::regex_match(name, m, kSettingsName), SettingsError, "video: '", settings_file,
              "' is not a run's settings file (<name>(<n>)_settings.txt).");
  const std::string folder = fs::path(settings_file).parent_path().string();
  return io::write_video(folder.empty() ? "." : folder, m[1].str(), std::stoi(m[2].str()), options);
}

CLI::App* add_video_command(CLI::App& app, VideoArgs& args) {
  auto* video = app.add_subcommand("video", "Join an animation's frames into <name>(<n>).mp4 (H.264, yuv420p, CRF 17), "
                                            "as DD's Create video cell");
  video->add_option("PATH", args.path, "The run's settings file, or its folder (the newest run in it)")->required();
  video->add_option("--fps", args.options.fps, "Frames per second")->capture_default_str();
  video->add_option("--init-frame", args.options.init_frame, "First frame (DD's default 1 leaves frame 0 out)")
      ->capture_default_str();
  video->add_option("--last-frame", args.last_frame, "Last frame count, as DD's last_frame (default: every frame)");
  video->add_option("--preset", args.options.preset, "x264 preset (DD: veryslow)")->capture_default_str();
  return video;
}

int run_video_command(const VideoArgs& args) {
  io::VideoOptions o = args.options;
  if (args.last_frame >= 0) o.last_frame = args.last_frame;
  const std::string settings_file = fs::is_directory(args.path) ? newest_settings_file(args.path) : args.path;
  DISCO_CHECK(fs::exists(settings_file), SettingsError, "video: '", settings_file, "' does not exist.");
  std::cout << video_of_run(settings_file, o) << std::endl;
  return 0;
}

}  // namespace disco::cli
