// The flags of `disco [options] "prompt:weight" ...` and how they become disco::Settings.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "disco/disco.h"

namespace disco::cli {

struct RunFlags {
  std::vector<std::string> prompts;      // positional: text_prompts {0: [...]}
  std::map<std::string, std::string> values;  // DD setting key -> the flag's text
  std::map<std::string, CLI::Option*> options;  // DD setting key -> its flag
  std::string settings_file, from_image;
  std::string resume;                    // --resume [RUN]: "" or "latest" for the newest run
  CLI::Option* resume_option = nullptr;
  std::vector<std::string> sets;         // --set key=value
  RunOptions run;
  bool quiet = false;
  bool video = false;                    // --video: the animation's mp4 after the run
  const SettingsTable* table = nullptr;  // the table the flags came from
};

// Adds the run's flags to `app`: one per entry of `table` that has a flag, with its help and the
// default of Settings{}, and the run options with the defaults of RunOptions{}.
void add_run_flags(CLI::App& app, RunFlags& flags, const SettingsTable& table = settings_table());

// Sources, later wins: Settings{} -> --settings FILE -> --from IMAGE -> positional prompts and
// flags -> --set. With --resume the run's own settings file is the base instead, the prompts,
// flags and --set given go on top, and resume_run is set. Throws SettingsError naming the flag or
// setting; `notes` gets remarks to show.
Settings build_settings(const RunFlags& flags, std::vector<std::string>* notes);

}  // namespace disco::cli
