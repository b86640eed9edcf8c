// Pre-flight GPU memory estimate of a run, and the choice of how many cuts each CLIP pass takes
// (guidance::CondFnSettings::cuts_per_pass) so that the run fits a budget (--max-vram).
//
// The peak of a step is the resident weights plus the larger of two phases: the sampler's UNet
// forward (no gradient), and the guidance pass (x̂0 with its graph, the cutouts' graph, and one
// CLIP pass's activations); their sum when the two run side by side (--overlap-sampler).
// Activation sizes are per-pixel and per-cut models of the networks' saved tensors, calibrated
// against the CUDA allocator's peak on an H200 (docs/performance.md).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "disco/run_internal.h"
#include "disco/settings.h"

namespace disco {

struct MemoryEstimate {
  int64_t weights = 0;        // parameters and buffers on the device (text encoders parked)
  int64_t sampler = 0;        // the sampler's UNet forward
  int64_t guidance = 0;       // x̂0's graph, the cutouts' graph, a CLIP pass's fixed part
  int64_t clip_per_cut = 0;   // the hungriest CLIP model's forward+backward, per cut
  int64_t backward = 0;       // x̂0's backward pass at the end of cond_fn
  int64_t cutouts_backward = 0;  // after a CLIP model's passes: x̂0's graph, the cutouts' and their backward
  int64_t cuts_per_pass = 0;  // cuts in one CLIP pass (the largest of the models' passes)
  bool measured = false;      // from probes on the device rather than the per-pixel model
  bool offload_skips = false; // the sampler's UNet keeps its full-resolution skips on the host
  bool offload_checkpoints = false;  // the UNet's checkpointed inputs wait on the host (full-UNet path)
  bool lean_graph = false;    // the UNet's recorded graph keeps fewer activations (full-UNet path)
  bool lean_clip_mlp = false; // the ViT image encoders' graphs keep their MLPs' inputs, not hidden layers
  int64_t parked = 0;         // weights off the device during the sampler's phase (image encoders)
  bool overlap_sampler = false;  // the sampler's UNet forward runs beside the guidance: both phases at once
  int64_t cutouts = 0;        // one model's cutouts graph while its CLIP passes run (part of guidance)
  int64_t cutouts_peak = 0;   // ... and at its peak through the backward pass (part of cutouts_backward)
  // CLIP models that take their cuts from one cutouts call (CondFnSettings::cutouts_across_models):
  // that many models' cutouts graphs at once.
  int64_t models_per_cut_call = 1;
  int64_t peak() const;
  std::string describe() const;  // "7.9 GiB (weights 1.8, sampler 2.1, guidance 1.0 + CLIP 3.0 for 32 cuts)"
};

// The estimate for `settings` on `models` with at most `cuts_per_pass` cuts per CLIP pass (0: all
// of a model's cuts in a step, cutn_batches x the largest cut count of the schedule).
MemoryEstimate estimate_memory(const Settings& settings, const LoadedModels& models, int64_t cuts_per_pass);

// The same parts measured on the device with the allocator's statistics (CUDA, libtorch >= 2.9):
// one UNet forward, x̂0 with its gradient, two small passes of each CLIP model (the per-cut slope),
// and each model's cutouts for the step with the most cuts, forward and backward (their own
// generators: the run's draws are untouched). Takes about a second; std::nullopt where the
// statistics are unavailable.
std::optional<MemoryEstimate> measure_memory(const Settings& settings, LoadedModels& models, int64_t cuts_per_pass,
                                             const guidance::CutoutsExecution& cutouts = {});

// The most cuts a step ever gives one CLIP model (cutn_batches x the largest overview + innercut).
int64_t max_cuts_per_step(const Settings& settings);

// The most CLIP models in a row with one input resolution: how many can share a cutouts call.
int64_t largest_cut_group(const LoadedModels& models);

// The largest cuts_per_pass whose estimate fits `budget_bytes` (all of them when they fit: 0).
// Throws RuntimeError saying what to lower when not even one cut per pass fits.
// `base` is estimate_memory(..., 0) or measure_memory(..., 0).
// `hint` (optional) is one more way out for that message, e.g. "--precision fast".
int64_t plan_cuts_per_pass(const Settings& settings, const MemoryEstimate& base, int64_t budget_bytes,
                           MemoryEstimate* estimate = nullptr, const std::string& hint = "");

// Why the sampler's UNet cannot run beside the guidance (--overlap-sampler) on `device` within
// `room` bytes (0: no limit), given the plan `e` made without it; empty when it can.
std::string overlap_refusal(const Settings& settings, const MemoryEstimate& e, const torch::Device& device,
                            int64_t room);

std::string format_gib(int64_t bytes);

}  // namespace disco
