// DD's cond_fn: the guidance gradient g = -d loss / d x (dd-spec §5, §15 items 4-14).
//
// Everything stays on x's device and in one batch per cutn batch. The step functions of
// diffusion/samplers.h run with gradients off; cond_fn switches them on for itself.
#pragma once
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>
#include <ATen/core/Generator.h>
#include <torch/torch.h>
#include "clip/clip_model.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "diffusion/secondary_model.h"
#include "guidance/augmentations.h"
#include "guidance/cutouts.h"
#include "guidance/lpips.h"
#include "guidance/resize_right.h"

namespace disco::guidance {

// One CLIP model with its prompt targets (targets.h builds them).
struct ClipGuide {
  clip::CLIP model{nullptr};
  int64_t cut_size = 224;        // the model's visual input resolution
  torch::Tensor target_embeds;   // [n, D] float32, on the model's device
  torch::Tensor weights;         // [n] float32, already divided by |Σw| (signs kept)
};

// DD's cut schedules evaluated at every one of the 1000 schedule indices (dd-spec §2.7), e.g.
// from disco/schedule_string.h. Index k = 1000 - (int(t_model) + 1).
struct CutSchedules {
  std::vector<int64_t> overview;   // cut_overview
  std::vector<int64_t> innercut;   // cut_innercut
  std::vector<double> ic_pow;      // cut_ic_pow
  std::vector<double> icgray_p;    // cut_icgray_p
  // "[4]*1000"-style constant schedules (tests, simple callers).
  static CutSchedules constant(int64_t overview, int64_t innercut, double ic_pow, double icgray_p);
};

// The scalars cond_fn reads (DD's globals, dd-spec §2.10).
struct CondFnSettings {
  double clip_guidance_scale = 5000;
  double tv_scale = 0;
  double range_scale = 150;   // QUIRK(dd-spec §15.6): no effect on the gradient, loss still reported
  double sat_scale = 0;
  double init_scale = 1000;   // used only when CondFnModels::init is defined and lpips is set
  int64_t cutn_batches = 4;
  // Most cuts one CLIP forward+backward pass takes (0: all cutn_batches x cuts of a model at
  // once). Only memory and speed depend on it; --max-vram picks it.
  int64_t cuts_per_pass = 0;
  // Consecutive CLIP models of one input resolution take their cuts from one cutouts call. Their
  // draws are the same, in the same order; the operations are fewer and larger, but all their
  // cuts' graphs are held at once. The memory plan decides (disco/memory_plan.h).
  bool cutouts_across_models = false;
  // How the cuts are computed (same cuts up to float rounding; bench comparisons).
  CutoutsExecution cutouts_execution;
  bool clamp_grad = true;
  double clamp_max = 0.05;
  bool skip_augs = false;
  AugMode aug_mode = AugMode::None;
  CutSchedules cuts;
};

// What the gradient is taken through.
struct CondFnModels {
  const diffusion::DiffusionSchedule* schedule = nullptr;  // must outlive the CondFn
  // use_secondary_model: x̂0 from the secondary model. Otherwise `network` (the UNet as DD wraps
  // it, out[B,6,H,W] = net(x, t_model)) through p_mean_variance, with gradients.
  bool use_secondary_model = true;
  diffusion::SecondaryDiffusionImageNet2 secondary{nullptr};
  diffusion::NetworkFn network;
  std::vector<ClipGuide> clip;
  // Init loss (dd-spec §5.5, §9): LPIPS(x_in, init) * init_scale when both are set and
  // init_scale != 0. init [1,3,H,W] in [-1,1] (init image, or Perlin noise) on x's device.
  LPIPS lpips{nullptr};
  torch::Tensor init;
};

// One call's numbers, for tests and progress reporting.
struct CondFnDiagnostics {
  std::vector<float> loss_values;  // losses.sum() per CLIP model per cutn batch (m0b0, m0b1, ...)
  float tv = 0, range = 0, sat = 0, init = 0;  // tv/range/init: summed over the batch
  float aux_loss = 0;              // tv*tv_scale + range*range_scale + sat*sat_scale (init term excluded)
  double fac = 0;                  // sqrt(1 - ᾱ[cur_t]), float64 as DD holds it
  float cosine_t = 0;              // the secondary model's time (secondary path only)
  float magnitude = 0;             // RMS of the unclamped gradient (0 when the NaN guard fired)
  bool nan_guard = false;          // x_in_grad had a NaN: the gradient is zero, no clamp
  int64_t schedule_index = 0;      // 1000 - (int(t) + 1), the cut-schedule entry used
  // Kept only when CondFn::keep_tensors is set (parity tests): detached copies.
  torch::Tensor pred, x_in, x_in_grad;
  std::vector<torch::Tensor> first_clip_in, first_image_embeds, first_dists;  // per CLIP model, batch 0
};

// The guides that take their cuts from one cutouts call, as [first, end) index ranges in order:
// with `across_models`, each run of consecutive guides of one cut size; else one guide each.
std::vector<std::pair<size_t, size_t>> cutouts_calls(const std::vector<ClipGuide>& guides, bool across_models);
// The same over the models' input resolutions in order (the memory plan, before the guides exist).
std::vector<std::pair<size_t, size_t>> cutouts_calls(const std::vector<int64_t>& cut_sizes, bool across_models);

// The x̂0 cond_fn guides through, with gradients when they are on: the secondary model's pred at
// the cosine time of cur_t, or the network's pred_xstart through p_mean_variance (no clipping).
// `network_out` (optional) receives the network's output, detached, on the network path.
torch::Tensor predict_x0(const CondFnModels& models, const torch::Tensor& x, int64_t cur_t,
                         torch::Tensor* network_out = nullptr);

class CondFn {
 public:
  // Throws SettingsError on inconsistent inputs (no schedule, missing model for the chosen
  // path, cut schedules not of 1000 entries, a guide whose weights do not match its targets).
  CondFn(CondFnModels models, CondFnSettings settings);

  // DD's cond_fn(x, t): x [1,3,H,W] float32, t_model [1] float32 (what condition_score passes;
  // it only selects the cut schedule entry), cur_t = DD's global counter, the respaced index
  // that gives fac, α, σ and the x̂0 evaluation (QUIRK(dd-spec §15.17): in PLMS's probe call it is
  // still the step's index, not the one passed to the sampler). `cpu` draws crops and
  // augmentation parameters, `noise` the augmentation noise (generator of x's device).
  // `network_out` (optional): on the network path, the network's output at (x, t_model(cur_t)),
  // detached; left undefined on the secondary-model path.
  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& t_model, int64_t cur_t, at::Generator& cpu,
                           at::Generator& noise, CondFnDiagnostics* diagnostics = nullptr,
                           torch::Tensor* network_out = nullptr) const;

  // Adapter for diffusion::with_condition_score. `cur_t` is read at each call (the run loop owns
  // the counter; DD sets it to the step's index before the step and decrements it after).
  // `last` (optional) receives each call's diagnostics. The referenced objects must outlive it.
  diffusion::CondFn as_sampler_cond_fn(const int64_t& cur_t, at::Generator& cpu, at::Generator& noise,
                                       CondFnDiagnostics* last = nullptr) const;
  // The same for diffusion::with_shared_condition_score: on the network path, when the counter
  // equals the sampler's index (every DDIM step, and every PLMS evaluation but the first step's
  // probe), cond_fn's network output goes back to the sampler, which then skips its own
  // evaluation of the same network at the same point.
  diffusion::SharingCondFn as_sampler_guidance(const int64_t& cur_t, at::Generator& cpu, at::Generator& noise,
                                               CondFnDiagnostics* last = nullptr) const;

  const CondFnSettings& settings() const { return settings_; }
  CondFnSettings& settings() { return settings_; }
  CondFnModels& models() { return models_; }
  bool keep_tensors = false;

 private:
  CondFnModels models_;
  CondFnSettings settings_;
  // The cutouts' resize weights, kept from call to call (shared by copies of this CondFn).
  std::shared_ptr<ResizeWeights> resize_weights_ = std::make_shared<ResizeWeights>();
};

}  // namespace disco::guidance
