// disco-cpp's public API: the only header app/ (the CLI, later the server) includes.
//
//   Settings   every DD v5.7 still-image setting, under DD's names, defaults = Settings{}  (settings.h)
//   Callbacks  on_log, on_progress(step, steps, elapsed), on_preview, should_cancel       (run.h)
//   load_models / run                                                                   (run.h)
//   the model manager (registry, cache folder, fetch, verify)                           (models.h)
//   inspect_model_file: what a weights file is                                          (inspect.h)
//   run_demo: tiny random-weight models written and run, for a first run                (demo.h)
//   write_video: an animation's frames into an mp4, where built with FFmpeg             (io/video.h)
//
// Errors are thrown as disco::Error subclasses (common/error.h); nothing here prints or exits.
#pragma once

#include "common/error.h"
#include "disco/demo.h"
#include "disco/inspect.h"
#include "disco/models.h"
#include "disco/run.h"
#include "disco/settings.h"
#include "disco/settings_table.h"
#include "io/video.h"
