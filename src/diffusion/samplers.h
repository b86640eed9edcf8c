// The DDIM and PLMS samplers DD drives (guided_diffusion GaussianDiffusion.p_mean_variance,
// condition_score, ddim_sample, plms_sample and the start of the *_sample_loop_progressive loops):
// models-spec §2.4–2.7, dd-spec §4.1–4.3, §14, §15.15–17.
//
// Free functions over a denoiser callable, state passed explicitly. Every schedule coefficient is
// the float64 table entry rounded to float32 (coef()), and each formula keeps the reference's
// operation order, so CPU float32 results match the Python ones closely (often bit for bit).
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <ATen/Tensor.h>
#include <ATen/core/Generator.h>

#include "diffusion/schedule.h"

namespace disco {
class SideStream;  // common/side_stream.h
}

namespace disco::diffusion {

using Tensor = at::Tensor;

// What one denoiser evaluation gives at (x_k, k).
struct ModelOutput {
  Tensor eps;                 // the ε the sampler should consider (guided after condition_score)
  Tensor pred_xstart;         // x̂0 the sample is built from (guided after condition_score)
  Tensor pred_xstart_uncond;  // x̂0 of the bare network: what DD displays and saves (§15.1)
};

// The network as DD wraps it: out[B, 6, H, W] = net(x[B, 3, H, W], t_model[B] float32).
using NetworkFn = std::function<Tensor(const Tensor& x, const Tensor& t_model)>;
// A denoiser at respaced index k (the STYLE §6 sampler model).
using Denoiser = std::function<ModelOutput(const Tensor& x, int64_t k)>;
// DD's cond_fn: the guidance gradient g = -d loss / d x (already clamped by cond_fn itself),
// given x, the wrapped time t_model[B] and the respaced index k.
using CondFn = std::function<Tensor(const Tensor& x, const Tensor& t_model, int64_t k)>;

// t_model(k) repeated over the batch, float32 on x's device.
Tensor t_model_tensor(const DiffusionSchedule& schedule, int64_t k, const Tensor& x);

// ε -> x̂0: A_k x − B_k ε.
Tensor predict_xstart_from_eps(const DiffusionSchedule& schedule, const Tensor& x, int64_t k, const Tensor& eps);
// x̂0 -> ε: (A_k x − x̂0) / B_k.
Tensor predict_eps_from_xstart(const DiffusionSchedule& schedule, const Tensor& x, int64_t k,
                               const Tensor& pred_xstart);
// Posterior mean coef1_k x̂0 + coef2_k x (what ancestral sampling would step to; DDIM/PLMS don't).
Tensor posterior_mean(const DiffusionSchedule& schedule, const Tensor& pred_xstart, const Tensor& x, int64_t k);
// Learned-range log variance from the network's channels 3..5 (models-spec §2.4; unused by DDIM/PLMS).
Tensor learned_range_log_variance(const DiffusionSchedule& schedule, const Tensor& var_values, int64_t k);

// p_mean_variance for ε-prediction with learn_sigma: ε = out[:, 0:3], x̂0 = A x − B ε, clamped to
// [-1, 1] when clip_denoised (DD passes false). `model_out` is the network output at (x, t_model(k)).
ModelOutput p_mean_variance(const DiffusionSchedule& schedule, const Tensor& model_out, const Tensor& x,
                            int64_t k, bool clip_denoised = false);

// The network through _WrappedModel + p_mean_variance, as a Denoiser.
Denoiser make_denoiser(const DiffusionSchedule& schedule, NetworkFn net, bool clip_denoised = false);

// condition_score (models-spec §2.5), given an already evaluated denoiser output:
// ε0 = (A x − x̂0)/B, ε' = ε0 − sqrt(1 − ᾱ_k)·g, x̂0' = A x − B ε'. pred_xstart_uncond is kept.
// Throws RuntimeError when g is not of x's shape.
ModelOutput condition_score(const DiffusionSchedule& schedule, const ModelOutput& out, const Tensor& x, int64_t k,
                            const Tensor& grad);

// Guidance as a wrapper: each evaluation calls `model`, then cond_fn(x, t_model(k), k), then
// condition_score. The schedule is captured by reference and must outlive the wrapper.
Denoiser with_condition_score(Denoiser model, CondFn cond_fn, const DiffusionSchedule& schedule);

// A cond_fn that may evaluate the network itself at the sampler's point (x, t_model(k)): DD's
// gradient through the UNet does, whenever its counter equals k. It hands that output back, so the
// sampler need not evaluate the same network at the same point a second time.
struct SharingCondFn {
  std::function<bool(int64_t k)> evaluates_network;
  // The gradient, as CondFn's. Where evaluates_network(k), *network_out receives net(x, t_model(k)),
  // detached; network_out may be null otherwise.
  std::function<Tensor(const Tensor& x, const Tensor& t_model, int64_t k, Tensor* network_out)> guide;
};

// with_condition_score(make_denoiser(net), cond_fn) that evaluates `net` only where cond_fn does
// not. Then the network still runs first; where cond_fn's evaluation serves, cond_fn runs alone
// (the network draws no random numbers, so DD's random stream is unchanged, dd-spec §14). The
// schedule must outlive the wrapper.
// `side` (optional; it must outlive the wrapper): a second stream of x's device, on which the
// sampler's own network evaluation then runs beside cond_fn. That needs the memory of both at once.
Denoiser with_shared_condition_score(NetworkFn net, SharingCondFn cond_fn, const DiffusionSchedule& schedule,
                                     bool clip_denoised = false, const SideStream* side = nullptr);

struct StepOutput {
  Tensor sample;       // x at the next (lower) index
  Tensor pred_xstart;  // the unguided x̂0 of the step's first evaluation (displayed/saved)
  Tensor x_mid;        // PLMS first step only: the Euler probe point (debugging/parity); else undefined
};

// One ddim_sample step at index k: σ = eta·sqrt((1−ᾱprev)/(1−ᾱ))·sqrt(1−ᾱ/ᾱprev);
// sample = x̂0'·sqrt(ᾱprev) + sqrt(1−ᾱprev−σ²)·ε + [k≠0]·σ·noise.
// The noise is one randn of x's shape drawn from `generator` AFTER the model (and cond_fn) ran,
// also at k = 0 where it is masked out, so the random stream matches the reference (dd-spec §14).
StepOutput ddim_step(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     double eta, at::Generator generator);
// The same with the noise given (tests, replaying a recorded stream).
StepOutput ddim_step(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     double eta, const Tensor& noise);

// PLMS history the caller owns: ε of earlier steps, oldest first.
struct PlmsState {
  std::vector<Tensor> old_eps;
};

// One plms_sample step at index k (order 1..4; DD uses 2). Without history and order > 1, a
// pseudo improved Euler step with two evaluations (the second at index k−1); else
// Adams–Bashforth on the guided ε. Deterministic: draws nothing. At k = 0 the sample is the
// step's guided x̂0. Updates `state`.
StepOutput plms_step(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     PlmsState& state, int order = 2);

// q_sample: float32(sqrt(ᾱ_k))·x_start + float32(sqrt(1−ᾱ_k))·noise.
Tensor q_sample(const DiffusionSchedule& schedule, const Tensor& x_start, int64_t k, const Tensor& noise);

// The loop's first index: N − skip_steps − 1 (throws SettingsError when skip_steps is out of range).
int64_t first_index(const DiffusionSchedule& schedule, int64_t skip_steps);

// The loop's start (dd-spec §4.1): x_T = noise; when an init is given (or skip_steps > 0, which
// makes the init zeros) x = q_sample(init, first_index, noise). Pass an undefined init for none.
Tensor loop_start(const DiffusionSchedule& schedule, const Tensor& noise, const Tensor& init, int64_t skip_steps);

}  // namespace disco::diffusion
