// Schedule parity: every tensor of manifest section "schedule" ("ddim<steps>.<array>",
// "base<T>.<array>") recomputed from the run's steps and compared with the manifest tolerance.
#include <map>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/schedule.h"
#include "support/fixtures.h"

namespace dd = disco::diffusion;
using disco::test::expect_close;
using disco::test::manifest;
using disco::test::tolerance_from;

namespace {

// The float64 tables by their Python attribute names.
const std::vector<double>* table_by_name(const dd::DiffusionSchedule& s, const std::string& name) {
  const std::map<std::string, const std::vector<double>*> tables = {
      {"betas", &s.betas},
      {"log_betas", &s.log_betas},
      {"alphas_cumprod", &s.alphas_cumprod},
      {"alphas_cumprod_prev", &s.alphas_cumprod_prev},
      {"alphas_cumprod_next", &s.alphas_cumprod_next},
      {"sqrt_alphas_cumprod", &s.sqrt_alphas_cumprod},
      {"sqrt_one_minus_alphas_cumprod", &s.sqrt_one_minus_alphas_cumprod},
      {"log_one_minus_alphas_cumprod", &s.log_one_minus_alphas_cumprod},
      {"sqrt_recip_alphas_cumprod", &s.sqrt_recip_alphas_cumprod},
      {"sqrt_recipm1_alphas_cumprod", &s.sqrt_recipm1_alphas_cumprod},
      {"posterior_variance", &s.posterior_variance},
      {"posterior_log_variance_clipped", &s.posterior_log_variance_clipped},
      {"posterior_mean_coef1", &s.posterior_mean_coef1},
      {"posterior_mean_coef2", &s.posterior_mean_coef2},
  };
  auto it = tables.find(name);
  return it == tables.end() ? nullptr : it->second;
}

// Per-index float32 quantities ("t_model", "cosine_t", "ddim_sigma_eta<eta>"); undefined if unknown.
torch::Tensor per_index(const dd::DiffusionSchedule& s, const std::string& name) {
  const int64_t n = s.num_timesteps();
  auto out = torch::empty({n}, torch::kFloat);
  auto a = out.accessor<float, 1>();
  const std::string sigma_prefix = "ddim_sigma_eta";
  if (name == "t_model") {
    for (int64_t k = 0; k < n; ++k) a[k] = s.t_model(k);
  } else if (name == "cosine_t") {
    for (int64_t k = 0; k < n; ++k) a[k] = s.cosine_t(k);
  } else if (name.rfind(sigma_prefix, 0) == 0) {
    const double eta = std::stod(name.substr(sigma_prefix.size()));
    for (int64_t k = 0; k < n; ++k) a[k] = s.ddim_sigma(k, eta);
  } else {
    return {};
  }
  return out;
}

// "ddim250" -> 250, "base1000" -> 1000 (prefix given).
int64_t suffix_number(const std::string& s, const std::string& prefix) {
  return std::stoll(s.substr(prefix.size()));
}

}  // namespace

TEST(Schedule, RunsMatchManifestRespacing) {
  const auto& sec = manifest().at("schedule");
  ASSERT_FALSE(sec.at("runs").empty());
  for (const auto& run : sec.at("runs")) {
    const int64_t steps = run.at("steps");
    EXPECT_EQ(dd::dd_diffusion_steps(steps), run.at("T_orig").get<int64_t>()) << "steps " << steps;
    const auto s = dd::make_schedule(run.at("T_orig"), run.at("respacing").get<std::string>());
    EXPECT_EQ(s.num_timesteps(), run.at("num_timesteps").get<int64_t>()) << "steps " << steps;
    if (run.contains("stride") && s.num_timesteps() > 1) {
      EXPECT_EQ(s.timestep_map[1] - s.timestep_map[0], run.at("stride").get<int64_t>()) << "steps " << steps;
    }
  }
}

TEST(Schedule, EveryManifestTensorMatchesReference) {
  const auto& sec = manifest().at("schedule");
  const disco::test::Fixture expected("schedule");
  ASSERT_FALSE(sec.at("tensors").empty());
  int checked = 0;
  for (const auto& [full_name, entry] : sec.at("tensors").items()) {
    SCOPED_TRACE(full_name);
    const auto dot = full_name.find('.');
    ASSERT_NE(dot, std::string::npos) << "unexpected tensor name in manifest.schedule";
    const std::string process = full_name.substr(0, dot), array = full_name.substr(dot + 1);
    ASSERT_TRUE(expected.contains(full_name)) << "missing in " << sec.at("expected_file");
    const auto& want = expected[full_name];

    dd::DiffusionSchedule s;
    if (process.rfind("ddim", 0) == 0) {
      s = dd::dd_schedule(suffix_number(process, "ddim"));
    } else if (process.rfind("base", 0) == 0) {
      const int64_t T = suffix_number(process, "base");
      s = dd::schedule_from_betas(dd::linear_betas(T), T);
    } else {
      FAIL() << "unknown process prefix '" << process << "' (expected ddim<steps> or base<T>)";
    }

    torch::Tensor got;
    if (array == "timestep_map") {
      got = torch::tensor(s.timestep_map, torch::kLong);
    } else if (const auto* table = table_by_name(s, array)) {
      got = dd::table_tensor(*table);
    } else {
      got = per_index(s, array);
    }
    ASSERT_TRUE(got.defined()) << "no C++ counterpart for schedule array '" << array << "'";
    EXPECT_EQ(got.scalar_type(), want.scalar_type()) << "dtype differs";
    expect_close(got, want, "schedule." + full_name, tolerance_from(entry));
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(sec.at("tensors").size()));
}
