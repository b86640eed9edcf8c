// guided_diffusion.gaussian_diffusion.GaussianDiffusion (linear betas) and respace.SpacedDiffusion
// as Disco Diffusion builds them: models-spec §2.1–2.3, dd-spec §3.4.
//
// Every table is float64, as numpy holds it in the reference. Python gathers an entry and rounds
// it to float32 each time it uses it (_extract_into_tensor): "compute in double, round at use",
// which at() and coef() reproduce.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace disco::diffusion {

// DD's rule for the length of the un-respaced process: (1000 // steps) * steps below 1000,
// else steps (250 -> 1000, 150 -> 900, 1500 -> 1500).
int64_t dd_diffusion_steps(int64_t steps);

// np.linspace(scale*1e-4, scale*0.02, T) with scale = 1000/T, endpoints included.
std::vector<double> linear_betas(int64_t T);

// respace.space_timesteps: "ddimN" (smallest stride giving N steps) or "K" / "K1,K2,..."
// (sections with fractional strides rounded half-to-even). Sorted ascending.
// Throws SettingsError when the request cannot be met.
std::vector<int64_t> space_timesteps(int64_t T, const std::string& section_counts);

struct DiffusionSchedule {
  int64_t T_orig = 0;                 // length of the base process (diffusion_steps)
  std::vector<int64_t> timestep_map;  // respaced index k -> base timestep

  std::vector<double> betas;
  std::vector<double> log_betas;  // log(betas): max_log of the learned-range variance
  std::vector<double> alphas_cumprod;
  std::vector<double> alphas_cumprod_prev;
  std::vector<double> alphas_cumprod_next;
  std::vector<double> sqrt_alphas_cumprod;
  std::vector<double> sqrt_one_minus_alphas_cumprod;
  std::vector<double> log_one_minus_alphas_cumprod;
  std::vector<double> sqrt_recip_alphas_cumprod;    // A_k
  std::vector<double> sqrt_recipm1_alphas_cumprod;  // B_k
  std::vector<double> posterior_variance;
  std::vector<double> posterior_log_variance_clipped;
  std::vector<double> posterior_mean_coef1;
  std::vector<double> posterior_mean_coef2;

  // Number of respaced steps N; sampler indices k run over 0..N-1.
  int64_t num_timesteps() const { return static_cast<int64_t>(betas.size()); }

  // _WrappedModel with rescale_timesteps: float32(timestep_map[k]) * float32(1000 / T_orig),
  // the time the UNet and cond_fn receive (models-spec §2.3).
  float t_model(int64_t k) const;

  // DD's secondary-model time: atan2(sigma, alpha) * 2 / pi in float32 ops, with alpha and sigma
  // the float32-rounded sqrt_alphas_cumprod[k] / sqrt_one_minus_alphas_cumprod[k].
  float cosine_t(int64_t k) const;

  // ddim_sample's sigma: eta * sqrt((1-abp)/(1-ab)) * sqrt(1 - ab/abp), float32 (ab, abp are
  // the float32-rounded alphas_cumprod[k], alphas_cumprod_prev[k]).
  float ddim_sigma(int64_t k, double eta) const;

  // Checks 0 <= k < N; throws SettingsError naming `what` otherwise.
  void check_index(int64_t k, const char* what) const;
};

// GaussianDiffusion(betas): every derived float64 array; timestep_map = identity.
DiffusionSchedule schedule_from_betas(const std::vector<double>& betas, int64_t T_orig);

// SpacedDiffusion(space_timesteps(T_orig, respacing), linear_betas(T_orig)).
DiffusionSchedule make_schedule(int64_t T_orig, const std::string& respacing);

// What DD builds for `steps`: T_orig = dd_diffusion_steps(steps), respacing "ddim{steps}".
DiffusionSchedule dd_schedule(int64_t steps);

// The gather of _extract_into_tensor: table[k] rounded to float32.
float at(const std::vector<double>& table, int64_t k);

// at(table, k) as a 0-dim float32 tensor on `like`'s device, to multiply float32 tensors with
// exactly the float32 value the reference broadcasts.
at::Tensor coef(const std::vector<double>& table, int64_t k, const at::Tensor& like);

// A float64 table as a 1-D double tensor (tests, debugging).
at::Tensor table_tensor(const std::vector<double>& table);

}  // namespace disco::diffusion
