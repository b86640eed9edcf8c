// disco bench: the speed and memory of guided sampling on the real architectures with random
// weights (no model files needed). Runs N guided DDIM steps as a run does (same cond_fn, same
// memory plan), reports the median time per step, the allocator's peak, the pre-flight estimate,
// a breakdown of one step measured piece by piece, and optionally how far the mixed-precision
// path is from fp32 on the same inputs.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "bench/bench_profile.h"
#include "disco/run.h"
#include "disco/settings.h"

namespace disco {

struct BenchOptions {
  // The device, precision, memory budget and speed options, as a run takes them (its output
  // folder and model files are not used: the bench makes random weights).
  RunOptions run;
  int steps = 6;                       // guided steps timed per case
  std::vector<bool> secondary = {true, false};  // the cases: use_secondary_model on, then off
  bool breakdown = true;
  bool compare_precision = false;      // fp32 vs mixed on the same step (CUDA: fp16; CPU: bfloat16)
  // CLIP models of one input resolution sharing a cutouts call: "auto" (the memory plan decides:
  // on CUDA where it fits), "on" (also on the CPU, whatever the budget), "off".
  std::string shared_cutouts = "auto";
  uint32_t seed = 0;
  std::string profile_dir;             // non-empty: profile one step and each part there (Kineto traces)
};

// A GPU part's time split into the host's (queuing the work) and the device's (running it), from
// one call queued behind a busy kernel (bench.cpp). -1: not measured (CPU).
struct HostDevice {
  double host = -1, device = -1;
  double busy = 0;  // the busy kernel's length: a host time near it means the part synchronised
};

struct BenchPart {
  std::string name;
  double seconds = 0;      // one call (GPU: median of 3 after a warm-up)
  int per_step = 0;        // calls per step
  int64_t peak_bytes = -1; // peak above what was held before the call (see BenchReport::peak_kind)
  HostDevice split;
  KernelProfile profile;   // with BenchOptions::profile_dir
  OpCount ops;             // one call's operators
};

struct BenchCase {
  std::string name;                  // "secondary model" | "full UNet gradient"
  std::vector<double> step_seconds;  // every timed step, in order
  double median_seconds = 0;         // median of the steps after the first (all when < 3)
  int64_t peak_bytes = -1;           // peak over the steps (-1: unknown); see BenchReport::peak_kind
  int64_t estimate_bytes = 0;        // the pre-flight estimate the plan used (measured on CUDA)
  std::string estimate;              // its description
  std::string modelled;              // the per-pixel model's estimate (what CPU-only planning uses)
  std::string error;                 // the case could not run (e.g. it does not fit --max-vram)
  int64_t cuts_per_pass = 0;         // as planned (0: all)
  std::vector<BenchPart> parts;      // the breakdown
  double rest_seconds = 0;           // median step minus the parts
  HostDevice step_split;             // one whole step's host and device times (with the breakdown)
  KernelProfile step_profile;        // one whole step's kernels (with BenchOptions::profile_dir)
  OpCount step_ops;                  // one whole step's operators (with the breakdown)
  bool offload_skips = false;        // the plan put the sampler's full-resolution skips on the host
  int offload_identical = -1;        // ... and its output equalled the plain forward's (1), or not (0)
  bool overlap_sampler = false;      // the plan ran the sampler's UNet beside the guidance (second stream)
  double overlap_max_diff = -1;      // ... and a step's sample differed from the one-stream step's by this
  // Full-UNet case: a step's sample against the step whose sampler evaluates the UNet itself (-1: not run).
  double shared_forward_max_diff = -1;
  bool finite = true;                // the sample stayed finite
};

struct PrecisionDiff {
  std::string name;       // the case
  std::string precision;  // what was compared with fp32: "mixed" or "fast"
  double pred_xstart = 0, grad = 0, sample = 0;  // ||mixed - fp32|| / ||fp32||
};

struct BenchReport {
  std::string device, libtorch, setup;
  // What the peaks measure: CUDA, the caching allocator's allocated bytes (weights included); CPU,
  // the process's resident peak (weights, code and libraries included).
  std::string peak_kind;
  std::vector<BenchCase> cases;
  std::vector<PrecisionDiff> precision;
  std::string text() const;
  nlohmann::ordered_json json() const;
};

// As the reference benchmark: every matrix and convolution weight of `m` drawn from N(0, 0.02), so
// that no layer is zero (guided-diffusion zero-initialises some) and activations stay in range.
// `gen`: a generator of the weights' device.
void randomize_weights(torch::nn::Module& m, at::Generator& gen);

// Throws SettingsError / RuntimeError like a run.
BenchReport run_bench(const Settings& settings, const BenchOptions& options,
                      const std::function<void(const std::string&)>& log = {});

}  // namespace disco
