// `disco video <folder|settings file>`: an animation's frames into an mp4, as DD's "Create video"
// cell makes it (docs/cli.md, "Animation").
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "disco/disco.h"

namespace disco::cli {

struct VideoArgs {
  std::string path;  // a run's <name>(<n>)_settings.txt, or its folder (its newest run)
  io::VideoOptions options;
  int last_frame = -1;  // -1: DD's 'final_frame', every frame on disk
};

CLI::App* add_video_command(CLI::App& app, VideoArgs& args);
int run_video_command(const VideoArgs& args);

// The video of the run that wrote `settings_file` (<folder>/<name>(<n>)_settings.txt).
std::string video_of_run(const std::string& settings_file, const io::VideoOptions& options);

}  // namespace disco::cli
