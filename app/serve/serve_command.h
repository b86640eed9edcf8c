// `disco serve`: its flags (the run's own, from the CLI's option code, as every job's defaults
// and model files, plus where to listen and keep data) and the command.
#pragma once
#include <string>

#include <CLI/CLI.hpp>

#include "cli/options.h"
#include "io/video.h"

namespace disco::serve {

struct ServeArgs {
  std::string listen = "127.0.0.1:7860";
  std::string data_dir = "disco-serve";
  std::string token;  // "auto": generated and printed once
  int max_queue = 1000;
  double max_upload_mib = 20;
  int64_t max_upload_pixels = 4096 * 4096;
  int max_event_streams = 48;
  io::VideoOptions video;  // DD's Create video cell's defaults
  cli::RunFlags flags;
};

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args);
// Serves until SIGINT or SIGTERM; throws disco::SettingsError for bad flags (an address that
// needs a token, a port in use).
int run_serve_command(ServeArgs& args);

}  // namespace disco::serve
