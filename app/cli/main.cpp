// disco: the command-line front end. Parses flags, calls the library, prints results to stdout
// and diagnostics to stderr. Only this file catches errors.
#include <cstdio>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "common/error.h"
#include "disco/inspect.h"

namespace {

// Exit codes: distinct per failure class so scripts can tell them apart.
constexpr int kExitOk = 0;
constexpr int kExitInput = 1;    // unreadable/damaged/unknown file, model mismatch
constexpr int kExitUsage = 2;    // bad flags or settings
constexpr int kExitRuntime = 3;  // failure while computing
constexpr int kExitCancelled = 130;

std::string with_commas(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = int(s.size()) - 3; i > (n < 0 ? 1 : 0); i -= 3) s.insert(size_t(i), ",");
  return s;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int run_inspect(const std::string& path, bool list_tensors) {
  disco::ModelFileInfo info = disco::inspect_model_file(path);
  std::cout << path << ": " << info.description << "\n";
  std::cout << "  format:     " << info.format << "\n";
  std::cout << "  tensors:    " << info.n_tensors << "\n";
  std::cout << "  parameters: " << with_commas(info.n_parameters) << "\n";
  std::cout << "  dtypes:    ";
  for (const auto& [dtype, count] : info.dtypes) std::cout << " " << dtype << " (" << count << ")";
  std::cout << "\n";
  if (list_tensors)
    for (const auto& t : info.tensors)
      std::cout << "  " << t.name << " " << shape_str(t.shape) << " " << t.dtype << "\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"disco: Disco Diffusion (CLIP-guided diffusion) in C++"};
  app.require_subcommand(1);

  std::string inspect_path;
  bool inspect_tensors = false;
  auto* inspect = app.add_subcommand("inspect", "Say what a weights file is (UNet preset, CLIP model, ...)");
  inspect->add_option("FILE", inspect_path, "Checkpoint (.pt/.pth) or CLIP TorchScript file")->required();
  inspect->add_flag("--tensors", inspect_tensors, "Also list every tensor: name, shape, dtype");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (*inspect) return run_inspect(inspect_path, inspect_tensors);
  } catch (const disco::SettingsError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const disco::CancelledError& e) {
    std::cerr << "cancelled: " << e.what() << "\n";
    return kExitCancelled;
  } catch (const disco::RuntimeError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntime;
  } catch (const disco::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitInput;
  } catch (const c10::Error& e) {
    std::cerr << "error: " << e.what_without_backtrace() << "\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitRuntime;
  }
  return kExitUsage;
}
