// guided_diffusion gaussian_diffusion.py / respace.py as DD uses them, models-spec §2.1–2.3.
#include "diffusion/schedule.h"

#include <cfenv>
#include <cmath>
#include <set>
#include <sstream>

#include <torch/torch.h>

#include "common/error.h"

namespace disco::diffusion {

int64_t dd_diffusion_steps(int64_t steps) {
  DISCO_CHECK(steps >= 1, SettingsError, "steps must be at least 1 (got ", steps, ").");
  return steps < 1000 ? (1000 / steps) * steps : steps;
}

std::vector<double> linear_betas(int64_t T) {
  DISCO_CHECK(T >= 1, SettingsError, "the diffusion needs at least one timestep (got ", T, ").");
  const double scale = 1000.0 / static_cast<double>(T);
  const double start = scale * 0.0001, stop = scale * 0.02;
  std::vector<double> betas(T);
  if (T == 1) {
    betas[0] = start;
    return betas;
  }
  // numpy.linspace: i * step + start, and the last entry set to stop exactly.
  const double step = (stop - start) / static_cast<double>(T - 1);
  for (int64_t i = 0; i < T; ++i) betas[i] = static_cast<double>(i) * step + start;
  betas[T - 1] = stop;
  return betas;
}

namespace {

// Python's round() on a float: half to even (the default FE_TONEAREST mode of nearbyint).
int64_t round_half_even(double v) {
  const int old = std::fegetround();
  std::fesetround(FE_TONEAREST);
  const double r = std::nearbyint(v);
  std::fesetround(old);
  return static_cast<int64_t>(r);
}

std::vector<int64_t> parse_counts(const std::string& s) {
  std::vector<int64_t> counts;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    DISCO_CHECK(used == item.size() && !item.empty() && v >= 0, SettingsError, "timestep respacing '", s,
                "' is not 'ddimN' or a comma-separated list of step counts.");
    counts.push_back(v);
  }
  DISCO_CHECK(!counts.empty(), SettingsError, "timestep respacing is empty; use 'ddimN' or 'K1,K2,...'.");
  return counts;
}

}  // namespace

std::vector<int64_t> space_timesteps(int64_t T, const std::string& section_counts) {
  if (section_counts.rfind("ddim", 0) == 0) {
    const auto desired = parse_counts(section_counts.substr(4));
    DISCO_CHECK(desired.size() == 1, SettingsError, "timestep respacing '", section_counts,
                "' must be 'ddim' followed by one step count.");
    // The smallest stride i in [1, T) with len(range(0, T, i)) == desired.
    for (int64_t i = 1; i < T; ++i) {
      if ((T + i - 1) / i != desired[0]) continue;
      std::vector<int64_t> kept;
      for (int64_t t = 0; t < T; t += i) kept.push_back(t);
      return kept;
    }
    DISCO_CHECK(false, SettingsError, "cannot create exactly ", desired[0], " steps with an integer stride from ", T,
                " diffusion steps ('", section_counts, "').");
  }
  const auto counts = parse_counts(section_counts);
  const int64_t n = static_cast<int64_t>(counts.size());
  const int64_t size_per = T / n, extra = T % n;
  std::set<int64_t> all;
  int64_t start = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t size = size_per + (i < extra ? 1 : 0);
    const int64_t count = counts[i];
    DISCO_CHECK(size >= count, SettingsError, "cannot divide a section of ", size, " steps into ", count,
                " (timestep respacing '", section_counts, "' on ", T, " diffusion steps).");
    const double frac_stride =
        count <= 1 ? 1.0 : static_cast<double>(size - 1) / static_cast<double>(count - 1);
    double cur = 0.0;  // repeated addition, as the reference does
    for (int64_t j = 0; j < count; ++j) {
      all.insert(start + round_half_even(cur));
      cur += frac_stride;
    }
    start += size;
  }
  return {all.begin(), all.end()};
}

DiffusionSchedule schedule_from_betas(const std::vector<double>& betas, int64_t T_orig) {
  const size_t n = betas.size();
  DISCO_CHECK(n >= 1, SettingsError, "the diffusion schedule needs at least one timestep.");
  DiffusionSchedule s;
  s.T_orig = T_orig;
  s.betas = betas;
  s.timestep_map.resize(n);
  for (size_t k = 0; k < n; ++k) s.timestep_map[k] = static_cast<int64_t>(k);

  auto resize = [n](std::vector<double>& v) { v.assign(n, 0.0); };
  for (auto* v : {&s.log_betas, &s.alphas_cumprod, &s.alphas_cumprod_prev, &s.alphas_cumprod_next,
                  &s.sqrt_alphas_cumprod, &s.sqrt_one_minus_alphas_cumprod, &s.log_one_minus_alphas_cumprod,
                  &s.sqrt_recip_alphas_cumprod, &s.sqrt_recipm1_alphas_cumprod, &s.posterior_variance,
                  &s.posterior_log_variance_clipped, &s.posterior_mean_coef1, &s.posterior_mean_coef2})
    resize(*v);

  double acc = 1.0;  // np.cumprod: sequential products
  for (size_t k = 0; k < n; ++k) {
    acc *= 1.0 - betas[k];
    s.alphas_cumprod[k] = acc;
  }
  for (size_t k = 0; k < n; ++k) {
    const double beta = betas[k], ac = s.alphas_cumprod[k];
    const double prev = k == 0 ? 1.0 : s.alphas_cumprod[k - 1];
    s.alphas_cumprod_prev[k] = prev;
    s.alphas_cumprod_next[k] = k + 1 < n ? s.alphas_cumprod[k + 1] : 0.0;
    s.log_betas[k] = std::log(beta);
    s.sqrt_alphas_cumprod[k] = std::sqrt(ac);
    s.sqrt_one_minus_alphas_cumprod[k] = std::sqrt(1.0 - ac);
    s.log_one_minus_alphas_cumprod[k] = std::log(1.0 - ac);
    s.sqrt_recip_alphas_cumprod[k] = std::sqrt(1.0 / ac);
    s.sqrt_recipm1_alphas_cumprod[k] = std::sqrt(1.0 / ac - 1.0);
    s.posterior_variance[k] = beta * (1.0 - prev) / (1.0 - ac);
    s.posterior_mean_coef1[k] = beta * std::sqrt(prev) / (1.0 - ac);
    s.posterior_mean_coef2[k] = (1.0 - prev) * std::sqrt(1.0 - beta) / (1.0 - ac);
  }
  // posterior_variance[0] is 0; the reference clips the log by repeating entry 1.
  for (size_t k = 0; k < n; ++k) {
    const size_t src = (k == 0 && n > 1) ? 1 : k;
    s.posterior_log_variance_clipped[k] = std::log(s.posterior_variance[src]);
  }
  return s;
}

DiffusionSchedule make_schedule(int64_t T_orig, const std::string& respacing) {
  const auto base = schedule_from_betas(linear_betas(T_orig), T_orig);
  const auto kept = space_timesteps(T_orig, respacing);
  // Respaced betas from the kept base alphas_cumprod: beta'_k = 1 - abar_i / abar_last.
  std::vector<double> betas;
  std::vector<int64_t> map;
  double last = 1.0;
  for (int64_t i : kept) {
    const double ac = base.alphas_cumprod[i];
    betas.push_back(1.0 - ac / last);
    last = ac;
    map.push_back(i);
  }
  auto s = schedule_from_betas(betas, T_orig);
  s.timestep_map = std::move(map);
  return s;
}

DiffusionSchedule dd_schedule(int64_t steps) {
  return make_schedule(dd_diffusion_steps(steps), "ddim" + std::to_string(steps));
}

void DiffusionSchedule::check_index(int64_t k, const char* what) const {
  DISCO_CHECK(k >= 0 && k < num_timesteps(), SettingsError, what, ": timestep index ", k,
              " is outside the schedule's 0..", num_timesteps() - 1, ".");
}

float DiffusionSchedule::t_model(int64_t k) const {
  check_index(k, "t_model");
  return static_cast<float>(timestep_map[k]) * static_cast<float>(1000.0 / static_cast<double>(T_orig));
}

float DiffusionSchedule::cosine_t(int64_t k) const {
  check_index(k, "cosine_t");
  auto opts = torch::TensorOptions().dtype(torch::kFloat);
  auto alpha = torch::scalar_tensor(at(sqrt_alphas_cumprod, k), opts);
  auto sigma = torch::scalar_tensor(at(sqrt_one_minus_alphas_cumprod, k), opts);
  return (torch::atan2(sigma, alpha) * 2 / M_PI).item<float>();
}

float DiffusionSchedule::ddim_sigma(int64_t k, double eta) const {
  check_index(k, "ddim_sigma");
  const float ab = at(alphas_cumprod, k), abp = at(alphas_cumprod_prev, k);
  return static_cast<float>(eta) * std::sqrt((1.0f - abp) / (1.0f - ab)) * std::sqrt(1.0f - ab / abp);
}

float at(const std::vector<double>& table, int64_t k) {
  DISCO_CHECK(k >= 0 && k < static_cast<int64_t>(table.size()), SettingsError, "timestep index ", k,
              " is outside the schedule table of ", table.size(), " entries.");
  return static_cast<float>(table[k]);
}

at::Tensor coef(const std::vector<double>& table, int64_t k, const at::Tensor& like) {
  return torch::scalar_tensor(at(table, k), torch::TensorOptions().dtype(torch::kFloat).device(like.device()));
}

at::Tensor table_tensor(const std::vector<double>& table) {
  return torch::from_blob(const_cast<double*>(table.data()), {static_cast<int64_t>(table.size())},
                          torch::kDouble)
      .clone();
}

}  // namespace disco::diffusion
