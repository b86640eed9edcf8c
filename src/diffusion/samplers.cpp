// guided_diffusion (kostarion fork as DD pins it) ddim_sample / plms_sample and helpers,
// models-spec §2.4–2.7. Operation order follows the reference on purpose: see samplers.h.
#include "diffusion/samplers.h"

#include <cmath>

#include <torch/torch.h>

#include "common/error.h"
#include "common/side_stream.h"

namespace disco::diffusion {

namespace {

// A float32 scalar as a 0-dim tensor next to `like` (the reference's broadcast [B,1,1,1] value).
Tensor scalar(float v, const Tensor& like) {
  return torch::scalar_tensor(v, torch::TensorOptions().dtype(torch::kFloat).device(like.device()));
}

struct Evaluation {
  Tensor eps;  // re-derived from the (possibly guided) x̂0, as ddim_sample / plms_sample do
  ModelOutput out;
};

Evaluation evaluate(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k) {
  ModelOutput out = model(x, k);
  DISCO_CHECK(out.pred_xstart.defined() && out.pred_xstart_uncond.defined(), RuntimeError,
              "the denoiser returned no pred_xstart at timestep index ", k, ".");
  Tensor eps = predict_eps_from_xstart(schedule, x, k, out.pred_xstart);
  return {eps, std::move(out)};
}

StepOutput ddim_impl(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     double eta, const std::function<Tensor()>& draw_noise) {
  schedule.check_index(k, "ddim_step");
  torch::NoGradGuard no_grad;
  const Evaluation ev = evaluate(schedule, model, x, k);
  const float abp = at(schedule.alphas_cumprod_prev, k);
  const float sigma = schedule.ddim_sigma(k, eta);
  // Drawn after the model and cond_fn, and also at k = 0 (dd-spec §14, §15.16).
  const Tensor noise = draw_noise();
  DISCO_CHECK(noise.sizes() == x.sizes(), RuntimeError, "ddim_step: the noise has shape ", noise.sizes(),
              " but x has shape ", x.sizes(), ".");
  const Tensor mean_pred = ev.out.pred_xstart * scalar(std::sqrt(abp), x) +
                           scalar(std::sqrt(1.0f - abp - sigma * sigma), x) * ev.eps;
  const float nonzero_mask = k != 0 ? 1.0f : 0.0f;
  StepOutput step;
  step.sample = mean_pred + scalar(nonzero_mask * sigma, x) * noise;
  step.pred_xstart = ev.out.pred_xstart_uncond;  // displayed x̂0 is the unguided one (§15.1)
  return step;
}

}  // namespace

Tensor t_model_tensor(const DiffusionSchedule& schedule, int64_t k, const Tensor& x) {
  return torch::full({x.size(0)}, schedule.t_model(k),
                     torch::TensorOptions().dtype(torch::kFloat).device(x.device()));
}

Tensor predict_xstart_from_eps(const DiffusionSchedule& schedule, const Tensor& x, int64_t k, const Tensor& eps) {
  return coef(schedule.sqrt_recip_alphas_cumprod, k, x) * x - coef(schedule.sqrt_recipm1_alphas_cumprod, k, x) * eps;
}

Tensor predict_eps_from_xstart(const DiffusionSchedule& schedule, const Tensor& x, int64_t k,
                               const Tensor& pred_xstart) {
  return (coef(schedule.sqrt_recip_alphas_cumprod, k, x) * x - pred_xstart) /
         coef(schedule.sqrt_recipm1_alphas_cumprod, k, x);
}

Tensor posterior_mean(const DiffusionSchedule& schedule, const Tensor& pred_xstart, const Tensor& x, int64_t k) {
  return coef(schedule.posterior_mean_coef1, k, x) * pred_xstart + coef(schedule.posterior_mean_coef2, k, x) * x;
}

Tensor learned_range_log_variance(const DiffusionSchedule& schedule, const Tensor& var_values, int64_t k) {
  const Tensor min_log = coef(schedule.posterior_log_variance_clipped, k, var_values);
  const Tensor max_log = coef(schedule.log_betas, k, var_values);
  const Tensor frac = (var_values + 1) / 2;
  return frac * max_log + (1 - frac) * min_log;
}

ModelOutput p_mean_variance(const DiffusionSchedule& schedule, const Tensor& model_out, const Tensor& x, int64_t k,
                            bool clip_denoised) {
  schedule.check_index(k, "p_mean_variance");
  const int64_t C = x.size(1);
  DISCO_CHECK(model_out.dim() == x.dim() && model_out.size(1) == 2 * C, RuntimeError,
              "the diffusion model returned shape ", model_out.sizes(), " for input ", x.sizes(),
              "; a learn_sigma model must return twice the input channels (eps, variance).");
  ModelOutput out;
  out.eps = model_out.slice(1, 0, C);  // [B, C, H, W]; channels C..2C-1 are the variance values
  Tensor pred_xstart = predict_xstart_from_eps(schedule, x, k, out.eps);
  if (clip_denoised) pred_xstart = pred_xstart.clamp(-1, 1);
  out.pred_xstart = pred_xstart;
  out.pred_xstart_uncond = pred_xstart;
  return out;
}

Denoiser make_denoiser(const DiffusionSchedule& schedule, NetworkFn net, bool clip_denoised) {
  return [&schedule, net = std::move(net), clip_denoised](const Tensor& x, int64_t k) {
    const Tensor out = net(x, t_model_tensor(schedule, k, x));
    return p_mean_variance(schedule, out, x, k, clip_denoised);
  };
}

ModelOutput condition_score(const DiffusionSchedule& schedule, const ModelOutput& out, const Tensor& x, int64_t k,
                            const Tensor& grad) {
  DISCO_CHECK(grad.sizes() == x.sizes(), RuntimeError, "cond_fn returned a gradient of shape ", grad.sizes(),
              " for x of shape ", x.sizes(), ".");
  const float ab = at(schedule.alphas_cumprod, k);
  const Tensor eps0 = predict_eps_from_xstart(schedule, x, k, out.pred_xstart);
  ModelOutput guided;
  guided.eps = eps0 - scalar(std::sqrt(1.0f - ab), x) * grad;
  guided.pred_xstart = predict_xstart_from_eps(schedule, x, k, guided.eps);
  guided.pred_xstart_uncond = out.pred_xstart_uncond;
  return guided;
}

Denoiser with_condition_score(Denoiser model, CondFn cond_fn, const DiffusionSchedule& schedule) {
  return [model = std::move(model), cond_fn = std::move(cond_fn), &schedule](const Tensor& x, int64_t k) {
    const ModelOutput out = model(x, k);  // the UNet runs before cond_fn (RNG order, dd-spec §14)
    const Tensor grad = cond_fn(x, t_model_tensor(schedule, k, x), k);
    return condition_score(schedule, out, x, k, grad);
  };
}

Denoiser with_shared_condition_score(NetworkFn net, SharingCondFn cond_fn, const DiffusionSchedule& schedule,
                                     bool clip_denoised, const SideStream* side) {
  DISCO_CHECK(net && cond_fn.evaluates_network && cond_fn.guide, SettingsError,
              "with_shared_condition_score needs a network and both parts of the cond_fn.");
  return [net = std::move(net), cond_fn = std::move(cond_fn), &schedule, clip_denoised, side](const Tensor& x,
                                                                                                int64_t k) {
    const Tensor t = t_model_tensor(schedule, k, x);
    Tensor out, grad;
    if (cond_fn.evaluates_network(k)) {
      grad = cond_fn.guide(x, t, k, &out);
      DISCO_CHECK(out.defined(), RuntimeError, "cond_fn said it evaluates the network at index ", k,
                  " but gave no output.");
    } else if (side) {
      out = side->run([&] { return net(x, t); });
      try {
        grad = cond_fn.guide(x, t, k, nullptr);
      } catch (...) {
        side->join_after_error(out);  // x and t must outlive the other stream's reads
        throw;
      }
      side->join(out);
    } else {
      // The network first, as DD.
      out = net(x, t);
      grad = cond_fn.guide(x, t, k, nullptr);
    }
    return condition_score(schedule, p_mean_variance(schedule, out, x, k, clip_denoised), x, k, grad);
  };
}

StepOutput ddim_step(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     double eta, at::Generator generator) {
  return ddim_impl(schedule, model, x, k, eta,
                   [&] { return torch::randn(x.sizes(), generator, x.options().dtype(torch::kFloat)); });
}

StepOutput ddim_step(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     double eta, const Tensor& noise) {
  return ddim_impl(schedule, model, x, k, eta, [&] { return noise; });
}

StepOutput plms_step(const DiffusionSchedule& schedule, const Denoiser& model, const Tensor& x, int64_t k,
                     PlmsState& state, int order) {
  DISCO_CHECK(order >= 1 && order <= 4, SettingsError, "PLMS order must be 1, 2, 3 or 4 (got ", order, ").");
  schedule.check_index(k, "plms_step");
  torch::NoGradGuard no_grad;
  const float abp = at(schedule.alphas_cumprod_prev, k);
  const Tensor sqrt_abp = scalar(std::sqrt(abp), x);
  const Tensor sqrt_one_minus_abp = scalar(std::sqrt(1.0f - abp), x);

  const Evaluation ev = evaluate(schedule, model, x, k);
  StepOutput step;
  Tensor eps_prime;
  if (order > 1 && state.old_eps.empty()) {
    // Pseudo improved Euler: probe at the next timestep with a second evaluation.
    state.old_eps = {ev.eps};
    step.x_mid = ev.out.pred_xstart * sqrt_abp + sqrt_one_minus_abp * ev.eps;
    // QUIRK(models-spec §2.7): at k = 0 the reference's index k-1 = -1 wraps to the last entry.
    const int64_t k_next = k > 0 ? k - 1 : schedule.num_timesteps() - 1;
    const Tensor eps2 = evaluate(schedule, model, step.x_mid, k_next).eps;
    eps_prime = (ev.eps + eps2) / 2;
  } else {
    // Pseudo linear multistep (Adams–Bashforth on the guided ε). With order 1 the reference
    // crashes here (no history); we take plain ε instead, i.e. deterministic DDIM.
    auto& e = state.old_eps;
    e.push_back(ev.eps);
    const size_t n = e.size();
    switch (std::min<size_t>(static_cast<size_t>(order), n)) {
      case 1: eps_prime = e[n - 1]; break;
      case 2: eps_prime = (3 * e[n - 1] - e[n - 2]) / 2; break;
      case 3: eps_prime = (23 * e[n - 1] - 16 * e[n - 2] + 5 * e[n - 3]) / 12; break;
      default: eps_prime = (55 * e[n - 1] - 59 * e[n - 2] + 37 * e[n - 3] - 9 * e[n - 4]) / 24; break;
    }
  }
  const Tensor pred_prime = predict_xstart_from_eps(schedule, x, k, eps_prime);
  const Tensor mean_pred = pred_prime * sqrt_abp + sqrt_one_minus_abp * eps_prime;
  if (state.old_eps.size() >= static_cast<size_t>(order)) state.old_eps.erase(state.old_eps.begin());

  const float nonzero_mask = k != 0 ? 1.0f : 0.0f;
  step.sample = mean_pred * scalar(nonzero_mask, x) + ev.out.pred_xstart * scalar(1.0f - nonzero_mask, x);
  step.pred_xstart = ev.out.pred_xstart_uncond;
  return step;
}

Tensor q_sample(const DiffusionSchedule& schedule, const Tensor& x_start, int64_t k, const Tensor& noise) {
  schedule.check_index(k, "q_sample");
  return coef(schedule.sqrt_alphas_cumprod, k, x_start) * x_start +
         coef(schedule.sqrt_one_minus_alphas_cumprod, k, x_start) * noise;
}

int64_t first_index(const DiffusionSchedule& schedule, int64_t skip_steps) {
  DISCO_CHECK(skip_steps >= 0 && skip_steps < schedule.num_timesteps(), SettingsError, "skip_steps must be in 0..",
              schedule.num_timesteps() - 1, " for ", schedule.num_timesteps(), " steps (got ", skip_steps, ").");
  return schedule.num_timesteps() - skip_steps - 1;
}

Tensor loop_start(const DiffusionSchedule& schedule, const Tensor& noise, const Tensor& init, int64_t skip_steps) {
  const int64_t i0 = first_index(schedule, skip_steps);
  if (init.defined()) {
    DISCO_CHECK(init.sizes() == noise.sizes(), SettingsError, "the init image has shape ", init.sizes(),
                " but the sample has shape ", noise.sizes(), ".");
    return q_sample(schedule, init, i0, noise);
  }
  // QUIRK(dd-spec §15.15): skip_steps > 0 without an init q_samples a zero init.
  if (skip_steps > 0) return q_sample(schedule, torch::zeros_like(noise), i0, noise);
  return noise;
}

}  // namespace disco::diffusion
