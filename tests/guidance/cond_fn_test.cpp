// cond_fn mechanics with a stand-in network (no CLIP, no fixtures): the gradient is -d loss/dx
// through x_in, RMS clamp, NaN guard, range_scale quirk, cur_t vs the passed index, the init
// (LPIPS) term, validation; prompt weights; the LPIPS loader's key map and errors.
#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "guidance/cond_fn.h"
#include "guidance/losses.h"
#include "guidance/lpips.h"
#include "guidance/targets.h"

namespace dd = disco::diffusion;
namespace dg = disco::guidance;
using torch::Tensor;

namespace {

constexpr float kEpsScale = 0.3f;

// A learn_sigma "UNet": eps = 0.3·x, variance channels 0.
Tensor stand_in(const Tensor& x, const Tensor&) { return torch::cat({x * kEpsScale, torch::zeros_like(x)}, 1); }

struct Fixture {
  dd::DiffusionSchedule schedule = dd::dd_schedule(50);
  dg::CondFnModels models() const {
    dg::CondFnModels m;
    m.schedule = &schedule;
    m.use_secondary_model = false;
    m.network = stand_in;
    return m;
  }
  static dg::CondFnSettings settings() {
    dg::CondFnSettings s;
    s.tv_scale = 2;
    s.range_scale = 0;
    s.sat_scale = 3;
    s.init_scale = 0;
    s.cutn_batches = 1;
    s.clamp_grad = false;
    s.cuts = dg::CutSchedules::constant(1, 0, 1, 0);
    return s;
  }
  // -d/dx of the same loss, written out directly.
  Tensor reference_grad(const Tensor& x0, int64_t k, const dg::CondFnSettings& s, dg::LPIPS lpips = nullptr,
                        const Tensor& init = Tensor()) const {
    torch::AutoGradMode on(true);
    auto x = x0.detach().clone().requires_grad_(true);
    auto pred = dd::predict_xstart_from_eps(schedule, x, k, x * kEpsScale);
    const double fac = schedule.sqrt_one_minus_alphas_cumprod[k];
    auto x_in = pred * static_cast<float>(fac) + x * static_cast<float>(1 - fac);
    auto loss = dg::tv_loss(x_in).sum() * static_cast<float>(s.tv_scale) + dg::sat_loss(x_in) * static_cast<float>(s.sat_scale);
    if (init.defined()) loss = loss + lpips->forward(x_in, init).sum() * static_cast<float>(s.init_scale);
    return -torch::autograd::grad({loss}, {x})[0];
  }
};

Tensor image(uint64_t seed, double scale = 1.5) {
  auto gen = dg::make_cpu_generator(seed);
  return torch::randn({1, 3, 32, 32}, gen, torch::kFloat) * scale;
}

}  // namespace

TEST(CondFn, GradientIsMinusLossGradientThroughXin) {
  Fixture f;
  const dg::CondFn cond(f.models(), Fixture::settings());
  auto gen = dg::make_cpu_generator(0);
  const int64_t k = 30;
  const auto x = image(1);
  dg::CondFnDiagnostics d;
  torch::NoGradGuard no_grad;  // as the samplers call it
  const auto g = cond(x, dd::t_model_tensor(f.schedule, k, x), k, gen, gen, &d);
  const auto ref = f.reference_grad(x, k, Fixture::settings());
  EXPECT_TRUE(torch::allclose(g, ref, 1e-5, 1e-6)) << (g - ref).abs().max();
  EXPECT_FALSE(g.requires_grad());
  EXPECT_FALSE(d.nan_guard);
  EXPECT_GT(d.tv, 0);
  EXPECT_GT(d.sat, 0);
  EXPECT_DOUBLE_EQ(d.fac, f.schedule.sqrt_one_minus_alphas_cumprod[k]);
  EXPECT_NEAR(d.magnitude, ref.square().mean().sqrt().item<float>(), 1e-6);
}

TEST(CondFn, RmsClampLimitsMagnitudeAndKeepsDirection) {
  Fixture f;
  auto s = Fixture::settings();
  auto gen = dg::make_cpu_generator(0);
  const auto x = image(2);
  const auto t = dd::t_model_tensor(f.schedule, 20, x);
  const auto free = dg::CondFn(f.models(), s)(x, t, 20, gen, gen);
  const float rms = free.square().mean().sqrt().item<float>();
  s.clamp_grad = true;
  s.clamp_max = rms / 10;
  dg::CondFnDiagnostics d;
  const auto clamped = dg::CondFn(f.models(), s)(x, t, 20, gen, gen, &d);
  EXPECT_NEAR(clamped.square().mean().sqrt().item<float>(), rms / 10, 1e-3 * rms);
  EXPECT_NEAR(d.magnitude, rms, 1e-6 * rms);
  EXPECT_TRUE(torch::allclose(clamped * 10, free, 1e-4, 1e-7));
  s.clamp_max = rms * 10;  // above the RMS: unchanged
  EXPECT_TRUE(torch::allclose(dg::CondFn(f.models(), s)(x, t, 20, gen, gen), free, 1e-6, 0));
}

TEST(CondFn, RangeScaleHasNoEffectButRangeLossIsReported) {
  Fixture f;
  auto s = Fixture::settings();
  auto gen = dg::make_cpu_generator(0);
  const auto x = image(3, 4.0);  // x̂0 far outside [-1, 1]
  const auto t = dd::t_model_tensor(f.schedule, 10, x);
  dg::CondFnDiagnostics d0, d1;
  const auto g0 = dg::CondFn(f.models(), s)(x, t, 10, gen, gen, &d0);
  s.range_scale = 1e6;
  const auto g1 = dg::CondFn(f.models(), s)(x, t, 10, gen, gen, &d1);
  EXPECT_TRUE(torch::equal(g0, g1));  // QUIRK(dd-spec §15.6)
  EXPECT_GT(d1.range, 0);
  EXPECT_NEAR(d1.aux_loss - d0.aux_loss, d1.range * 1e6f, 1e-5 * d1.range * 1e6f);
}

TEST(CondFn, NanGuardZeroesGradientAndSkipsClamp) {
  Fixture f;
  auto s = Fixture::settings();
  s.clamp_grad = true;
  auto gen = dg::make_cpu_generator(0);
  auto x = image(4);
  x[0][1][5][7] = std::nanf("");
  dg::CondFnDiagnostics d;
  const auto g = dg::CondFn(f.models(), s)(x, dd::t_model_tensor(f.schedule, 5, x), 5, gen, gen, &d);
  EXPECT_TRUE(d.nan_guard);
  EXPECT_TRUE(torch::equal(g, torch::zeros_like(x)));
}

TEST(CondFn, CurTComesFromTheCounterAndCutIndexFromTheTime) {
  Fixture f;
  const dg::CondFn cond(f.models(), Fixture::settings());
  auto gen = dg::make_cpu_generator(0);
  const auto x = image(5);
  int64_t cur_t = 40;
  dg::CondFnDiagnostics last;
  const auto fn = cond.as_sampler_cond_fn(cur_t, gen, gen, &last);
  // The sampler passes another index (PLMS's probe at k-1): fac still comes from cur_t.
  const auto t = dd::t_model_tensor(f.schedule, 39, x);
  const auto g = fn(x, t, 39);
  EXPECT_DOUBLE_EQ(last.fac, f.schedule.sqrt_one_minus_alphas_cumprod[40]);
  EXPECT_EQ(last.schedule_index, 1000 - (static_cast<int64_t>(t[0].item<float>()) + 1));
  EXPECT_TRUE(torch::equal(g, cond(x, t, 40, gen, gen)));
  cur_t = 39;
  fn(x, t, 39);
  EXPECT_DOUBLE_EQ(last.fac, f.schedule.sqrt_one_minus_alphas_cumprod[39]);
}

TEST(CondFn, SamplerGuidanceHandsTheNetworkOutputBackAtTheSamplersPoint) {
  Fixture f;
  int calls = 0;
  auto m = f.models();
  m.network = [&](const Tensor& x, const Tensor& t) {
    ++calls;
    return stand_in(x, t);
  };
  const dg::CondFn cond(m, Fixture::settings());
  const auto x = image(6);
  const auto noise = image(7);
  auto gen = dg::make_cpu_generator(0);
  int64_t cur_t = 40;
  const auto unshared = dd::with_condition_score(dd::make_denoiser(f.schedule, m.network),
                                                 cond.as_sampler_cond_fn(cur_t, gen, gen), f.schedule);
  const auto shared = dd::with_shared_condition_score(m.network, cond.as_sampler_guidance(cur_t, gen, gen), f.schedule);

  // DDIM: the counter is the step's index, so one network evaluation serves cond_fn and the sampler.
  const auto a = dd::ddim_step(f.schedule, unshared, x, 40, 0.8, noise);
  EXPECT_EQ(calls, 2);
  calls = 0;
  const auto b = dd::ddim_step(f.schedule, shared, x, 40, 0.8, noise);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(torch::equal(a.sample, b.sample));
  EXPECT_TRUE(torch::equal(a.pred_xstart, b.pred_xstart));

  // PLMS's first step probes index 39 with the counter still at 40 (dd-spec §15.17): that
  // evaluation is not at the sampler's point, so the sampler runs the network itself.
  dd::PlmsState sa, sb;
  calls = 0;
  const auto pa = dd::plms_step(f.schedule, unshared, x, 40, sa);
  EXPECT_EQ(calls, 4);
  calls = 0;
  const auto pb = dd::plms_step(f.schedule, shared, x, 40, sb);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(torch::equal(pa.sample, pb.sample));
  EXPECT_TRUE(torch::equal(pa.pred_xstart, pb.pred_xstart));
}

TEST(CondFn, InitTermAddsLpipsGradient) {
  Fixture f;
  auto s = Fixture::settings();
  s.init_scale = 50;
  auto m = f.models();
  torch::manual_seed(0);
  m.lpips = dg::LPIPS();
  m.lpips->eval();
  m.init = image(6, 0.5).clamp(-1, 1);
  auto gen = dg::make_cpu_generator(0);
  const auto x = image(7, 0.8);
  dg::CondFnDiagnostics d;
  const auto g = dg::CondFn(m, s)(x, dd::t_model_tensor(f.schedule, 25, x), 25, gen, gen, &d);
  const auto ref = f.reference_grad(x, 25, s, m.lpips, m.init);
  EXPECT_TRUE(torch::allclose(g, ref, 1e-4, 1e-7)) << (g - ref).abs().max();
  EXPECT_NE(d.init, 0);
  s.init_scale = 0;  // DD skips the term when init_scale is 0
  const auto g0 = dg::CondFn(m, s)(x, dd::t_model_tensor(f.schedule, 25, x), 25, gen, gen);
  EXPECT_TRUE(torch::allclose(g0, f.reference_grad(x, 25, s), 1e-5, 1e-7));
}

TEST(CondFn, RejectsInconsistentSetups) {
  Fixture f;
  auto s = Fixture::settings();
  s.cuts.overview.resize(999);
  EXPECT_THROW((void)dg::CondFn(f.models(), s), disco::SettingsError);
  auto m = f.models();
  m.use_secondary_model = true;  // but no secondary model
  EXPECT_THROW((void)dg::CondFn(m, Fixture::settings()), disco::SettingsError);
  m = f.models();
  m.network = nullptr;
  EXPECT_THROW((void)dg::CondFn(m, Fixture::settings()), disco::SettingsError);
  m = f.models();
  m.schedule = nullptr;
  EXPECT_THROW((void)dg::CondFn(m, Fixture::settings()), disco::SettingsError);
  const dg::CondFn ok(f.models(), Fixture::settings());
  auto gen = dg::make_cpu_generator(0);
  const auto x2 = torch::zeros({2, 3, 32, 32});
  EXPECT_THROW(ok(x2, torch::full({2}, 100.0f), 3, gen, gen), disco::SettingsError);
}

TEST(Targets, WeightsDividedByAbsoluteSumKeepingSigns) {
  const auto w = dg::normalized_weights({3, -1}, torch::kCPU);
  EXPECT_TRUE(torch::allclose(w, torch::tensor({1.5f, -0.5f})));
  EXPECT_EQ(w.scalar_type(), torch::kFloat);
  try {
    dg::normalized_weights({1, -1}, torch::kCPU);
    FAIL() << "weights summing to 0 must be rejected";
  } catch (const disco::SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find("must not sum to 0"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dg::normalized_weights({}, torch::kCPU), disco::SettingsError);
}

TEST(Lpips, IdenticalImagesGiveZeroAndKeysFollowTorchvision) {
  torch::manual_seed(1);
  dg::LPIPS model;
  model->eval();
  {  // the real lin weights are non-negative, which makes LPIPS a distance
    torch::NoGradGuard no_grad;
    for (auto& lin : model->lins) lin->parameters()[0].abs_();
  }
  const auto x = image(8, 0.5);
  EXPECT_EQ(model->forward(x, x).sizes(), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(model->forward(x, x).item<float>(), 0.0f);
  EXPECT_GT(model->forward(x, image(9, 0.5)).item<float>(), 0.0f);
  const auto params = model->named_parameters();
  for (const char* key : {"net.slice1.0.weight", "net.slice2.5.weight", "net.slice3.14.bias", "net.slice4.17.weight",
                          "net.slice5.28.bias", "lin0.model.1.weight", "lin4.model.1.weight"})
    EXPECT_NE(params.find(key), nullptr) << key;
  EXPECT_EQ(params.size(), 31u);
  EXPECT_EQ(dg::lpips_slice_of_feature(4), 2);
  EXPECT_EQ(dg::lpips_slice_of_feature(29), 5);
  EXPECT_EQ(dg::lpips_slice_of_feature(30), 0);
}

TEST(Lpips, LoaderMapsTorchvisionFeatureKeysAndNamesProblems) {
  torch::manual_seed(2);
  dg::LPIPS source;
  disco::io::TensorMap vgg, lin;
  for (const auto& p : source->named_parameters()) {
    const std::string& key = p.key();
    if (key.rfind("net.slice", 0) == 0)
      vgg.insert("features." + key.substr(key.find('.', 9) + 1), p.value().detach().clone());
    else
      lin.insert(key, p.value().detach().clone());
  }
  vgg.insert("classifier.0.weight", torch::zeros({2, 2}));  // present in the real file, unused
  dg::LPIPS loaded;
  dg::load_lpips_weights(*loaded, vgg, lin, "vgg16.pth", "vgg.pth");
  const auto got = loaded->named_parameters();
  for (const auto& p : source->named_parameters()) EXPECT_TRUE(torch::equal(got[p.key()], p.value())) << p.key();

  auto missing = vgg;
  missing.erase("features.17.weight");
  try {
    dg::load_lpips_weights(*loaded, missing, lin, "vgg16.pth", "vgg.pth");
    FAIL() << "a missing tensor must be reported";
  } catch (const disco::ModelMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("features.17.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("vgg16.pth"), std::string::npos) << e.what();
  }
  auto bad = lin;
  bad["lin2.model.1.weight"] = torch::zeros({1, 3, 1, 1});
  EXPECT_THROW(dg::load_lpips_weights(*loaded, vgg, bad, "vgg16.pth", "vgg.pth"), disco::ModelMismatchError);
  EXPECT_THROW(dg::load_lpips("/nonexistent/vgg16.pth", "/nonexistent/vgg.pth"), disco::Error);
}
