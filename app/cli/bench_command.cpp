#include "bench_command.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "disco/disco.h"
#include "progress.h"

namespace disco::cli {
namespace {

// On the CPU the benchmark is a smoke test (seconds, not hours): one CLIP model, one cutn batch of
// 4 cuts. Applied before --settings/--set, which can undo any of it; --full-cpu skips it.
const std::vector<std::string> kCpuProfile = {"ViTB16=false", "RN50=false", "cutn_batches=1",
                                              "cut_overview=[2]*1000", "cut_innercut=[2]*1000"};

bool runs_on_cpu(const std::string& device) {
  return device == "cpu" || (device == "auto" && !torch::cuda::is_available());
}

}  // namespace

CLI::App* add_bench_command(CLI::App& app, BenchArgs& a) {
  auto* b = app.add_subcommand("bench", "Speed and memory of guided steps on the real architectures (random weights)");
  auto& o = a.options;
  b->add_option("--device", o.run.device, "cpu, cuda, cuda:N or auto")->capture_default_str();
  b->add_option("--precision", o.run.precision, "fp32, mixed, fast or auto (mixed on CUDA, as DD)")->capture_default_str();
  b->add_option("--size", a.size, "WxH (default: DD's width_height, 1280x768 for 512 models)");
  b->add_option("--steps", o.steps, "Guided steps to time per case")->capture_default_str()->check(CLI::PositiveNumber);
  b->add_option("--secondary", a.secondary, "Cases: on (secondary model), off (gradient through the UNet), both")
      ->check(CLI::IsMember({"on", "off", "both"}))->capture_default_str()
      ->each([&a](const std::string&) { a.secondary_given = true; });
  b->add_option("--max-vram", o.run.max_vram_gib, "GPU memory budget in GiB, as for a run")->check(CLI::NonNegativeNumber);
  b->add_option("--cuts-per-pass", o.run.cuts_per_pass, "Cuts per CLIP pass (0: planned)")->check(CLI::NonNegativeNumber);
  b->add_flag("--channels-last", o.run.channels_last,
              "UNet torso in NHWC layout (experimental; slower on the H200 measured)");
  b->add_option("--shared-cutouts", o.shared_cutouts,
                "CLIP models of one input resolution cut in one call: auto (on CUDA where memory allows), on, off")
      ->check(CLI::IsMember({"auto", "on", "off"}))->capture_default_str();
  b->add_flag("--overlap-sampler", o.run.overlap_sampler,
              "Secondary model on a GPU: the sampler's UNet beside the guidance on a second stream, where memory allows");
  b->add_flag("--cudnn-benchmark", o.run.cudnn_benchmark, "Let cuDNN time its algorithms for each shape first");
  b->add_flag("--compare", o.compare_precision, "Also measure the mixed (or fast) precision against fp32 on the same step");
  b->add_flag("--no-breakdown", [&o](int64_t) { o.breakdown = false; }, "Skip the per-part timings");
  b->add_flag("--no-fused-attention", [&o](int64_t) { o.run.fused_attention = false; },
              "Use the explicit softmax(q k^T) v attention in the UNet and CLIP");
  b->add_flag("--per-crop-cutouts", o.run.per_crop_cutouts, "Resize the inner cuts box by box instead of batched");
  b->add_option("--augment-blocks", o.run.augment_blocks,
                "The cutn batches' augmentations: together (each operation once for all batches), one-by-one, or "
                "auto (together on CUDA)")
      ->check(CLI::IsMember({"auto", "together", "one-by-one"}))->capture_default_str();
  b->add_option("--settings", a.settings_file, "DD settings file (JSON) to start from");
  b->add_option("--set", a.sets, "Setting override key=value (repeatable)");
  b->add_flag("--full-cpu", a.full_cpu, "On the CPU, keep DD's full guidance (3 CLIP models, 4 x 16 cuts)");
  b->add_option("--json", a.json_path, "Also write the report as JSON to this file");
  b->add_option("--seed", o.seed, "Seed of the random inputs")->capture_default_str();
  b->add_option("--profile", o.profile_dir,
                "Profile one step and each part (libtorch's Kineto profiler): the longest kernels in the report, "
                "the traces (Chrome trace JSON) in this folder");
  b->add_flag("-q,--quiet", a.quiet, "Only the report");
  return b;
}

int run_bench_command(const BenchArgs& a) {
  Progress progress(a.quiet);
  std::vector<std::string> notes;
  Settings s;
  if (runs_on_cpu(a.options.run.device) && !a.full_cpu) {
    for (const auto& kv : kCpuProfile) s = apply_override(s, kv, &notes);
    progress.log("note: CPU profile (secondary model case, ViT-B/32 only, 1 x 4 cuts); --full-cpu for DD's guidance");
  }
  if (!a.settings_file.empty()) s = load_settings_file(a.settings_file, s, &notes);
  if (!a.size.empty()) {
    const auto x = a.size.find('x');
    DISCO_CHECK(x != std::string::npos, SettingsError, "--size must be WxH, e.g. 1280x768; got '", a.size, "'.");
    s = apply_override(s, "width=" + a.size.substr(0, x), &notes);
    s = apply_override(s, "height=" + a.size.substr(x + 1), &notes);
  }
  for (const auto& kv : a.sets) s = apply_override(s, kv, &notes);
  for (const auto& n : notes) progress.log("note: " + n);
  BenchOptions o = a.options;
  if (o.run.per_crop_cutouts) progress.log("note: inner cuts resized box by box (--per-crop-cutouts)");
  if (o.run.augment_blocks != "auto") progress.log("note: the cutn batches' augmentations run " + o.run.augment_blocks);

  if (!o.profile_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(o.profile_dir, ec);
    DISCO_CHECK(!ec, SettingsError, "--profile: cannot create the folder '", o.profile_dir, "': ", ec.message());
  }
  if (a.secondary != "both") o.secondary = {a.secondary == "on"};
  else if (runs_on_cpu(o.run.device) && !a.full_cpu && !a.secondary_given) o.secondary = {true};
  const BenchReport r = run_bench(s, o, [&](const std::string& line) { progress.log(line); });
  std::cout << r.text() << std::flush;
  if (!a.json_path.empty()) {
    std::ofstream out(a.json_path);
    out << r.json().dump(1) << "\n";
    DISCO_CHECK(out.good(), RuntimeError, "cannot write '", a.json_path, "'.");
  }
  return 0;
}

}  // namespace disco::cli
