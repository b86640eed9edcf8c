// disco: the command-line front end. Parses flags into disco::Settings, calls the library, prints
// result paths to stdout and logs, progress and errors to stderr. Only this file catches errors.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <c10/util/Exception.h>

#include "bench_command.h"
#ifdef DISCO_HAVE_SERVE
#include "serve/serve_command.h"
#endif
#include "video_command.h"
#include "disco/disco.h"
#include "options.h"
#include "progress.h"

namespace {

// Exit codes: distinct per failure class so scripts can tell them apart.
constexpr int kExitOk = 0;
constexpr int kExitInput = 1;    // unreadable/damaged/unknown file, model mismatch
constexpr int kExitUsage = 2;    // bad flags or settings
constexpr int kExitRuntime = 3;  // failure while computing
constexpr int kExitCancelled = 130;

volatile std::sig_atomic_t g_cancel = 0;
extern "C" void on_sigint(int) {
  g_cancel = 1;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C ends the process at once
}

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

struct ModelsArgs {
  std::string dir = disco::default_models_dir();
  std::vector<std::string> names;
};

int run_models(CLI::App& models, const ModelsArgs& a, bool quiet) {
  disco::cli::Progress progress(quiet);
  if (*models.get_subcommand("list")) {
    std::cout << "models folder: " << a.dir << "\n";
    for (const auto& e : disco::model_registry()) {
      const bool cached = std::filesystem::exists(std::filesystem::path(a.dir) / e.file_name);
      std::printf("  %-42s %-10s %s\n", e.name.c_str(), e.kind.c_str(), cached ? "cached" : "-");
    }
    return kExitOk;
  }
  if (*models.get_subcommand("fetch")) {
    for (const auto& name : a.names) {
      disco::FetchOptions f;
      f.on_log = [&](const std::string& line) { progress.log(line); };
      f.download.on_progress = [&](int64_t r, int64_t t) { progress.download(name, r, t); };
      std::cout << disco::ensure_model(disco::model_entry(name), a.dir, f) << std::endl;
    }
    return kExitOk;
  }
  int bad = 0;  // verify
  for (const auto& e : disco::model_registry()) {
    if (!a.names.empty() && std::find(a.names.begin(), a.names.end(), e.name) == a.names.end()) continue;
    const disco::ModelCheck c = disco::verify_model(e, a.dir);
    const char* state = c.state == disco::ModelState::Ok        ? "ok"
                        : c.state == disco::ModelState::Corrupt ? "CORRUPT"
                        : c.state == disco::ModelState::Unchecked ? "no published checksum"
                                                                  : nullptr;
    if (!state) continue;  // not cached
    if (c.state == disco::ModelState::Corrupt) ++bad;
    std::printf("%-42s %s  sha256 %s\n", e.name.c_str(), state, c.sha256.c_str());
  }
  return bad ? kExitInput : kExitOk;
}

int run_demo(const disco::DemoOptions& o, bool quiet) {
  disco::cli::Progress progress(quiet);
  disco::Callbacks cb;
  cb.on_log = [&](const std::string& line) { progress.log(line); };
  cb.on_progress = [&](int step, int steps, double elapsed) { progress.step(step, steps, elapsed); };
  cb.should_cancel = [] { return g_cancel != 0; };
  std::signal(SIGINT, on_sigint);

  const disco::RunResult r = disco::run_demo(o, cb);
  for (const auto& path : r.images) std::cout << path << "\n";
  std::cout.flush();
  char line[120];
  std::snprintf(line, sizeof line, "done: %zu image in %.1f s, seed %u", r.images.size(),
                r.load_seconds + r.sample_seconds, r.seed);
  progress.log(line);
  progress.log("the demo models have random weights, so the image is noise-like; for real images fetch the "
               "real weights (README, docs/cli.md)");
  return kExitOk;
}

int run_generate(const disco::cli::RunFlags& flags) {
  disco::cli::Progress progress(flags.quiet);
  std::vector<std::string> notes;
  const disco::Settings settings = disco::cli::build_settings(flags, &notes);
  for (const auto& n : notes) progress.log("note: " + n);

  disco::Callbacks cb;
  cb.on_log = [&](const std::string& line) { progress.log(line); };
  cb.on_progress = [&](int step, int steps, double elapsed) { progress.step(step, steps, elapsed); };
  cb.on_download = [&](const std::string& name, int64_t r, int64_t t) { progress.download(name, r, t); };
  cb.should_cancel = [] { return g_cancel != 0; };
  std::signal(SIGINT, on_sigint);

  DISCO_CHECK(!flags.video || settings.animation_mode != disco::AnimationMode::None, disco::SettingsError,
              "--video joins an animation's frames, but animation_mode is 'None'.");
  const disco::RunResult r = disco::run(settings, flags.run, cb);
  for (const auto& path : r.images) std::cout << path << "\n";
  for (const auto& path : r.gifs) std::cout << path << "\n";
  if (!r.settings_file.empty()) std::cout << r.settings_file << "\n";
  if (flags.video) std::cout << disco::cli::video_of_run(r.settings_file, {}) << "\n";
  std::cout.flush();
  const double rate = r.sample_seconds > 0 ? r.steps_done / r.sample_seconds : 0;
  char line[200];
  std::snprintf(line, sizeof line, "done: %zu image%s in %.1f s (loading %.1f s, sampling %.1f s, %.2f it/s), seed %u",
                r.images.size(), r.images.size() == 1 ? "" : "s", r.load_seconds + r.sample_seconds, r.load_seconds,
                r.sample_seconds, rate, r.seed);
  progress.log(line);
  return kExitOk;
}

// Runs a command, turning each kind of error into one line on stderr and its exit code.
int with_exit_codes(const std::function<int()>& command) {
  try {
    return command();
  } catch (const disco::SettingsError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const disco::CancelledError& e) {
    std::cerr << "\ncancelled: " << e.what() << "\n";
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
}

constexpr const char* kUsage =
    "disco: Disco Diffusion (CLIP-guided diffusion) in C++\n"
    "  disco [options] \"prompt:weight\" ...     make images (docs/cli.md)\n"
    "  disco models list|fetch NAME|verify     the model cache\n"
    "  disco inspect FILE                      what a weights file is\n"
    "  disco demo [--vocab FILE]               a first run on tiny random-weight models\n"
    "  disco bench [--device cuda] [--compare] speed and memory (docs/performance.md)\n"
    "  disco video FOLDER|SETTINGS_FILE        an animation's frames into an mp4\n"
    "  disco serve [--listen HOST:PORT]        a local web app: job queue, progress, gallery";

struct InspectArgs {
  std::string path;
  bool tensors = false;
};

CLI::App* add_inspect_command(CLI::App& app, InspectArgs& a) {
  auto* inspect = app.add_subcommand("inspect", "Say what a weights file is (UNet preset, CLIP model, ...)");
  inspect->add_option("FILE", a.path, "Checkpoint (.pt/.pth) or CLIP TorchScript file")->required();
  inspect->add_flag("--tensors", a.tensors, "Also list every tensor: name, shape, dtype");
  return inspect;
}

CLI::App* add_models_command(CLI::App& app, ModelsArgs& a) {
  auto* models = app.add_subcommand("models", "The model cache: list, fetch NAME, verify");
  models->require_subcommand(1);
  models->add_option("--models-dir", a.dir, "Model cache folder ($DISCO_MODELS)")->capture_default_str();
  auto* list = models->add_subcommand("list", "Every known model: name, kind, cached or not");
  auto* fetch = models->add_subcommand("fetch", "Download models into the cache (with resume and checksum)");
  fetch->add_option("NAME", a.names, "Model names (see list)")->required();
  auto* verify = models->add_subcommand("verify", "Check the sha256 of cached models");
  verify->add_option("NAME", a.names, "Only these models");
  for (auto* sub : {list, fetch, verify}) sub->fallthrough();  // --models-dir may follow the verb
  return models;
}

struct DemoArgs {
  disco::DemoOptions options;
  bool quiet = false;
};

CLI::App* add_demo_command(CLI::App& app, DemoArgs& a) {
  a.options.models_dir = disco::default_models_dir();
  auto* demo = app.add_subcommand(
      "demo", "First run, no download but the vocabulary: writes tiny models with seeded random weights "
              "(demo_unet.pt, demo_clip.pt) into the model folder if missing and makes one 64x64 image "
              "with them (8 steps, seed 42). Random weights: the image is noise-like.");
  demo->add_option("--models-dir", a.options.models_dir, "Model folder for the demo models ($DISCO_MODELS)")
      ->capture_default_str();
  demo->add_option("-o,--out", a.options.out_dir, "Output folder (default images_out/demo)");
  demo->add_option("--vocab", a.options.vocab,
                   "CLIP's bpe_simple_vocab_16e6.txt.gz (default: the model folder's, from "
                   "`disco models fetch bpe_simple_vocab_16e6`)");
  demo->add_option("--device", a.options.device, "cpu | cuda | cuda:N | auto")->capture_default_str();
  demo->add_flag("-q,--quiet", a.quiet, "No progress lines");
  return demo;
}

// Every command's flags, and the subcommand each belongs to (none: make images).
struct Commands {
  disco::cli::RunFlags flags;
  InspectArgs inspect_args;
  ModelsArgs models_args;
  DemoArgs demo_args;
  disco::cli::BenchArgs bench_args;
  disco::cli::VideoArgs video_args;
#ifdef DISCO_HAVE_SERVE
  disco::serve::ServeArgs serve_args;
#endif
  CLI::App *inspect = nullptr, *models = nullptr, *demo = nullptr, *bench = nullptr, *video = nullptr,
           *serve = nullptr;
};

// In the order `disco --help` lists them.
void add_commands(CLI::App& app, Commands& c) {
  disco::cli::add_run_flags(app, c.flags);
  c.inspect = add_inspect_command(app, c.inspect_args);
  c.models = add_models_command(app, c.models_args);
  c.demo = add_demo_command(app, c.demo_args);
  c.bench = disco::cli::add_bench_command(app, c.bench_args);
  c.video = disco::cli::add_video_command(app, c.video_args);
#ifdef DISCO_HAVE_SERVE
  c.serve = disco::serve::add_serve_command(app, c.serve_args);
#else
  // Built without cpp-httplib or SQLite: the command exists to say what to install.
  c.serve = app.add_subcommand("serve", "A local web app (not in this build: see its error)");
  c.serve->allow_extras();
#endif
}

int run_command(Commands& c) {
  if (*c.inspect) return run_inspect(c.inspect_args.path, c.inspect_args.tensors);
  if (*c.models) return run_models(*c.models, c.models_args, c.flags.quiet);
  if (*c.bench) return disco::cli::run_bench_command(c.bench_args);
  if (*c.demo) return run_demo(c.demo_args.options, c.demo_args.quiet || c.flags.quiet);
  if (*c.video) return disco::cli::run_video_command(c.video_args);
#ifdef DISCO_HAVE_SERVE
  if (*c.serve) return disco::serve::run_serve_command(c.serve_args);
#else
  if (*c.serve)
    throw disco::Error("this disco was built without `disco serve`: install cpp-httplib and SQLite "
                       "(apt-get install libcpp-httplib-dev libsqlite3-dev) and configure and build again.");
#endif
  return run_generate(c.flags);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{kUsage};
  app.require_subcommand(0, 1);
  Commands commands;
  add_commands(app, commands);

  if (argc == 1) {
    std::cout << app.help();
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::cerr << "error: " << e.what() << " (disco --help lists the options)\n";
    return kExitUsage;
  }

  return with_exit_codes([&] { return run_command(commands); });
}
