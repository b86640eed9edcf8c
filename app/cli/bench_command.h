// `disco bench`: flags and the report (docs/performance.md).
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench/bench.h"

namespace disco::cli {

struct BenchArgs {
  BenchOptions options;
  std::string size;                // WxH (default: DD's width_height for the model)
  std::string secondary = "both";  // on | off | both
  bool secondary_given = false;
  std::string settings_file;
  std::vector<std::string> sets;   // --set key=value
  std::string json_path;
  bool full_cpu = false;           // on the CPU, DD's full guidance instead of the reduced profile
  bool quiet = false;
};

CLI::App* add_bench_command(CLI::App& app, BenchArgs& args);
int run_bench_command(const BenchArgs& args);

}  // namespace disco::cli
