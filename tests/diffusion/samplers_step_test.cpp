// Sampler unit tests with a stand-in network: the DDIM / PLMS / condition_score formulas
// recomputed in float64 from the schedule tables, the RNG draw order, PLMS history handling.
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "diffusion/samplers.h"

namespace dd = disco::diffusion;
using torch::Tensor;

namespace {

// A smooth, time-dependent stand-in for the UNet: [B,3,H,W], t[B] -> [B,6,H,W].
Tensor stand_in_net(const Tensor& x, const Tensor& t) {
  auto tt = t.view({-1, 1, 1, 1}) / 1000;
  auto eps = torch::tanh(x) * 0.7 + 0.3 * tt * torch::sin(3 * x);
  auto var = torch::cos(x) * 0.5 - tt;
  return torch::cat({eps, var}, 1);
}

struct Fixture {
  dd::DiffusionSchedule s = dd::dd_schedule(50);
  std::vector<int64_t> calls;  // indices the network was evaluated at
  dd::Denoiser model() {
    auto net = [this](const Tensor& x, const Tensor& t) {
      return stand_in_net(x, t);
    };
    auto inner = dd::make_denoiser(s, net);
    return [this, inner](const Tensor& x, int64_t k) {
      calls.push_back(k);
      return inner(x, k);
    };
  }
};

Tensor rand_x(int64_t seed) {
  auto g = at::detail::createCPUGenerator(seed);
  return torch::randn({2, 3, 8, 8}, g, torch::kFloat);
}

// Reference eps of the stand-in net in float64 (x̂0 chain folded: eps0 = model eps).
Tensor eps_ref(const dd::DiffusionSchedule& s, const Tensor& x, int64_t k) {
  auto xd = x.to(torch::kDouble);
  auto t = torch::full({x.size(0)}, static_cast<double>(s.t_model(k)), torch::kDouble);
  return stand_in_net(xd, t).slice(1, 0, 3);
}

Tensor xstart_ref(const dd::DiffusionSchedule& s, const Tensor& x, int64_t k, const Tensor& eps) {
  return s.sqrt_recip_alphas_cumprod[k] * x.to(torch::kDouble) - s.sqrt_recipm1_alphas_cumprod[k] * eps;
}

void expect_allclose(const Tensor& got, const Tensor& want, double tol, const char* what) {
  const double err = (got.to(torch::kDouble) - want.to(torch::kDouble)).abs().max().item<double>();
  EXPECT_LE(err, tol) << what;
}

}  // namespace

TEST(Samplers, PMeanVarianceSplitsEpsAndClipsOnRequest) {
  Fixture f;
  auto x = rand_x(1) * 30;  // large x makes x̂0 leave [-1, 1]
  auto out = stand_in_net(x, dd::t_model_tensor(f.s, 20, x));
  auto pmv = dd::p_mean_variance(f.s, out, x, 20, false);
  EXPECT_TRUE(torch::equal(pmv.eps, out.slice(1, 0, 3)));
  expect_allclose(pmv.pred_xstart, xstart_ref(f.s, x, 20, out.slice(1, 0, 3).to(torch::kDouble)), 1e-3, "x0");
  EXPECT_GT(pmv.pred_xstart.abs().max().item<float>(), 1.0f);
  auto clipped = dd::p_mean_variance(f.s, out, x, 20, true);
  EXPECT_LE(clipped.pred_xstart.abs().max().item<float>(), 1.0f);
  EXPECT_THROW(dd::p_mean_variance(f.s, out.slice(1, 0, 3), x, 20), disco::RuntimeError);
}

TEST(Samplers, LearnedRangeVarianceInterpolatesLogs) {
  Fixture f;
  auto v = torch::tensor({-1.0f, 1.0f});
  auto lv = dd::learned_range_log_variance(f.s, v, 10);
  EXPECT_FLOAT_EQ(lv[0].item<float>(), static_cast<float>(f.s.posterior_log_variance_clipped[10]));
  EXPECT_FLOAT_EQ(lv[1].item<float>(), static_cast<float>(f.s.log_betas[10]));
}

TEST(Samplers, DdimStepMatchesFormulaInDouble) {
  Fixture f;
  const int64_t k = 30;
  const double eta = 0.8;
  auto x = rand_x(2), noise = rand_x(3);
  auto step = dd::ddim_step(f.s, f.model(), x, k, eta, noise);

  auto eps = eps_ref(f.s, x, k);
  auto x0 = xstart_ref(f.s, x, k, eps);
  const double ab = f.s.alphas_cumprod[k], abp = f.s.alphas_cumprod_prev[k];
  const double sigma = eta * std::sqrt((1 - abp) / (1 - ab)) * std::sqrt(1 - ab / abp);
  auto want = x0 * std::sqrt(abp) + std::sqrt(1 - abp - sigma * sigma) * eps + sigma * noise.to(torch::kDouble);
  expect_allclose(step.sample, want, 1e-4, "sample");
  expect_allclose(step.pred_xstart, x0, 1e-4, "pred_xstart");
  EXPECT_EQ(f.calls, (std::vector<int64_t>{k}));
}

TEST(Samplers, DdimDrawsNoiseAfterModelAndAlsoAtLastStep) {
  Fixture f;
  auto x = rand_x(4);
  auto gen = at::detail::createCPUGenerator(123);
  auto step = dd::ddim_step(f.s, f.model(), x, 0, 0.8, gen);
  // At k = 0 sigma = 0 and abar_prev = 1, so the sample is x̂0 exactly.
  EXPECT_TRUE(torch::equal(step.sample, step.pred_xstart));
  // One randn of x's shape was consumed from the generator.
  auto ref = at::detail::createCPUGenerator(123);
  torch::randn(x.sizes(), ref, torch::kFloat);
  EXPECT_TRUE(torch::equal(torch::randn({5}, gen, torch::kFloat), torch::randn({5}, ref, torch::kFloat)));

  // The generator form equals the injected-noise form with the same draw.
  auto g1 = at::detail::createCPUGenerator(7), g2 = at::detail::createCPUGenerator(7);
  auto a = dd::ddim_step(f.s, f.model(), x, 25, 0.8, g1);
  auto b = dd::ddim_step(f.s, f.model(), x, 25, 0.8, torch::randn(x.sizes(), g2, torch::kFloat));
  EXPECT_TRUE(torch::equal(a.sample, b.sample));
}

TEST(Samplers, ConditionScoreShiftsEpsBySqrtOneMinusAlphaBar) {
  Fixture f;
  const int64_t k = 40;
  auto x = rand_x(5), g = rand_x(6) * 0.05;
  std::vector<std::string> order;
  dd::CondFn cond = [&](const Tensor& xx, const Tensor& t, int64_t kk) {
    order.push_back("cond");
    EXPECT_EQ(kk, k);
    EXPECT_EQ(t.sizes(), (torch::IntArrayRef{x.size(0)}));
    EXPECT_EQ(t[0].item<float>(), f.s.t_model(k));
    EXPECT_TRUE(torch::equal(xx, x));
    return g;
  };
  auto base = f.model();
  dd::Denoiser logged = [&](const Tensor& xx, int64_t kk) {
    order.push_back("model");
    return base(xx, kk);
  };
  auto guided = dd::with_condition_score(logged, cond, f.s);
  auto out = guided(x, k);
  EXPECT_EQ(order, (std::vector<std::string>{"model", "cond"}));

  auto eps = eps_ref(f.s, x, k);
  auto eps_c = eps - std::sqrt(1 - f.s.alphas_cumprod[k]) * g.to(torch::kDouble);
  expect_allclose(out.eps, eps_c, 1e-4, "eps'");
  expect_allclose(out.pred_xstart, xstart_ref(f.s, x, k, eps_c), 1e-4, "x0'");
  expect_allclose(out.pred_xstart_uncond, xstart_ref(f.s, x, k, eps), 1e-4, "x0 uncond");
  // The DDIM step builds its sample from the guided x̂0 but reports the unguided one.
  EXPECT_FALSE(torch::equal(out.pred_xstart, out.pred_xstart_uncond));
  auto step = dd::ddim_step(f.s, guided, x, k, 0.0, torch::zeros_like(x));
  EXPECT_TRUE(torch::equal(step.pred_xstart, out.pred_xstart_uncond));
}

TEST(Samplers, SharedConditionScoreEvaluatesTheNetworkOnlyWhereCondFnDoesNot) {
  Fixture f;
  const int64_t k = 40;
  const auto x = rand_x(5), g = rand_x(6) * 0.05;
  std::vector<std::string> order;
  const dd::NetworkFn net = [&](const Tensor& xx, const Tensor& t) {
    order.push_back("net");
    return stand_in_net(xx, t);
  };
  const auto unshared = dd::with_condition_score(dd::make_denoiser(f.s, stand_in_net),
                                                 [&](const Tensor&, const Tensor&, int64_t) { return g; }, f.s)(x, k);
  for (const bool evaluates : {true, false}) {
    SCOPED_TRACE(evaluates);
    order.clear();
    dd::SharingCondFn cond;
    cond.evaluates_network = [&](int64_t kk) { return evaluates && kk == k; };
    cond.guide = [&](const Tensor& xx, const Tensor& t, int64_t kk, Tensor* network_out) {
      order.push_back("cond");
      EXPECT_EQ(kk, k);
      EXPECT_EQ(t[0].item<float>(), f.s.t_model(k));
      EXPECT_EQ(network_out != nullptr, evaluates);
      if (network_out) *network_out = stand_in_net(xx, t);
      return g;
    };
    const auto out = dd::with_shared_condition_score(net, cond, f.s)(x, k);
    // Where the sampler evaluates the network itself, it does so first, as DD.
    const std::vector<std::string> want = evaluates ? std::vector<std::string>{"cond"}
                                                    : std::vector<std::string>{"net", "cond"};
    EXPECT_EQ(order, want);
    EXPECT_TRUE(torch::equal(out.eps, unshared.eps));
    EXPECT_TRUE(torch::equal(out.pred_xstart, unshared.pred_xstart));
    EXPECT_TRUE(torch::equal(out.pred_xstart_uncond, unshared.pred_xstart_uncond));
  }
  dd::SharingCondFn broken;
  broken.evaluates_network = [](int64_t) { return true; };
  broken.guide = [&](const Tensor&, const Tensor&, int64_t, Tensor*) { return g; };  // promised an output, gave none
  EXPECT_THROW(dd::with_shared_condition_score(net, broken, f.s)(x, k), disco::RuntimeError);
  broken.evaluates_network = [](int64_t) { return false; };
  broken.guide = [&](const Tensor&, const Tensor&, int64_t, Tensor*) { return g.slice(0, 0, 1); };
  EXPECT_THROW(dd::with_shared_condition_score(net, broken, f.s)(x, k), disco::RuntimeError);
  EXPECT_THROW(dd::with_shared_condition_score(net, dd::SharingCondFn{}, f.s), disco::SettingsError);
}

TEST(Samplers, PlmsFirstStepIsPseudoImprovedEulerThenAdamsBashforth) {
  Fixture f;
  const int64_t k = 45;
  auto x = rand_x(8);
  dd::PlmsState state;
  auto s1 = dd::plms_step(f.s, f.model(), x, k, state);
  EXPECT_EQ(f.calls, (std::vector<int64_t>{k, k - 1}));
  ASSERT_EQ(state.old_eps.size(), 1u);

  const double abp = f.s.alphas_cumprod_prev[k];
  auto e1 = eps_ref(f.s, x, k);
  auto x_mid = xstart_ref(f.s, x, k, e1) * std::sqrt(abp) + std::sqrt(1 - abp) * e1;
  expect_allclose(s1.x_mid, x_mid, 1e-4, "x_mid");
  expect_allclose(state.old_eps[0], e1, 1e-4, "history");
  auto e2 = eps_ref(f.s, s1.x_mid, k - 1);
  auto ep = (e1 + e2) / 2;
  auto want1 = xstart_ref(f.s, x, k, ep) * std::sqrt(abp) + std::sqrt(1 - abp) * ep;
  expect_allclose(s1.sample, want1, 1e-4, "sample 1");
  expect_allclose(s1.pred_xstart, xstart_ref(f.s, x, k, e1), 1e-4, "pred_xstart 1");

  // Second step: (3 e - e_prev) / 2 on the history, oldest dropped afterwards.
  f.calls.clear();
  auto s2 = dd::plms_step(f.s, f.model(), s1.sample, k - 1, state);
  EXPECT_EQ(f.calls, (std::vector<int64_t>{k - 1}));
  EXPECT_FALSE(s2.x_mid.defined());
  ASSERT_EQ(state.old_eps.size(), 1u);
  const double abp2 = f.s.alphas_cumprod_prev[k - 1];
  auto e = eps_ref(f.s, s1.sample, k - 1);
  auto ep2 = (3 * e - e1) / 2;
  auto want2 = xstart_ref(f.s, s1.sample, k - 1, ep2) * std::sqrt(abp2) + std::sqrt(1 - abp2) * ep2;
  expect_allclose(s2.sample, want2, 1e-4, "sample 2");
  expect_allclose(state.old_eps[0], e, 1e-4, "history 2");
}

TEST(Samplers, PlmsHigherOrdersAndLastStep) {
  Fixture f;
  auto x = rand_x(9);
  dd::PlmsState state;
  auto model = f.model();
  std::vector<size_t> sizes;
  for (int64_t k = 5; k >= 0; --k) {
    auto step = dd::plms_step(f.s, model, x, k, state, 4);
    sizes.push_back(state.old_eps.size());
    if (k == 0) {
      // At k = 0 the sample is the step's x̂0 (here unguided == guided).
      EXPECT_TRUE(torch::equal(step.sample, step.pred_xstart));
    }
    x = step.sample;
  }
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 2, 3, 3, 3, 3}));
  EXPECT_TRUE(torch::isfinite(x).all().item<bool>());

  // Order 1 (a crash in the reference) is plain deterministic DDIM here.
  dd::PlmsState s1;
  auto x1 = rand_x(10);
  auto p = dd::plms_step(f.s, model, x1, 20, s1, 1);
  auto d = dd::ddim_step(f.s, model, x1, 20, 0.0, torch::zeros_like(x1));
  expect_allclose(p.sample, d.sample, 1e-5, "order 1");
  EXPECT_TRUE(s1.old_eps.empty());
  EXPECT_THROW(dd::plms_step(f.s, model, x1, 20, s1, 5), disco::SettingsError);
}

TEST(Samplers, PlmsFirstStepAtIndexZeroProbesWrappedIndex) {
  Fixture f;
  dd::PlmsState state;
  dd::plms_step(f.s, f.model(), rand_x(11), 0, state);
  EXPECT_EQ(f.calls, (std::vector<int64_t>{0, f.s.num_timesteps() - 1}));
}

TEST(Samplers, LoopStartQSamplesInitOrZeros) {
  const auto s = dd::dd_schedule(250);
  auto noise = rand_x(12), init = rand_x(13).clamp(-1, 1);
  EXPECT_EQ(dd::first_index(s, 10), 239);
  EXPECT_THROW(dd::first_index(s, 250), disco::SettingsError);
  // No init, no skip: x_T itself.
  EXPECT_TRUE(torch::equal(dd::loop_start(s, noise, Tensor(), 0), noise));
  // Zero init when skipping: float32(sqrt(1 - abar)) * noise.
  auto z = dd::loop_start(s, noise, Tensor(), 10);
  EXPECT_TRUE(torch::equal(z, noise * static_cast<float>(s.sqrt_one_minus_alphas_cumprod[239])));
  // An init is q_sampled even with skip 0, at index N - 1.
  auto q = dd::loop_start(s, noise, init, 0);
  auto want = static_cast<float>(s.sqrt_alphas_cumprod[249]) * init +
              static_cast<float>(s.sqrt_one_minus_alphas_cumprod[249]) * noise;
  EXPECT_TRUE(torch::equal(q, want));
}
