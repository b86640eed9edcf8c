// Sampler parity against the reference on the tiny UNet: manifest sections "samplers" (DDIM /
// PLMS steps) and "plms_cond_fn" (the PLMS mechanics with the recorded cond_fn gradients replayed).
#include <optional>
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/samplers.h"
#include "support/fixtures.h"

// The UNet is written in parallel; until src/diffusion/unet.h exists these tests skip.
#if __has_include("diffusion/unet.h")
#define DISCO_HAVE_UNET 1
#include "diffusion/unet.h"
#include "io/state_dict.h"
#else
#define DISCO_HAVE_UNET 0
#endif

namespace dd = disco::diffusion;
using disco::test::Fixture;
using disco::test::manifest;
using nlohmann::json;
using torch::Tensor;

namespace {

#if DISCO_HAVE_UNET
// The UNet stored as `file` ("unet_<cfg>.pt"), built from manifest.unet.<cfg>.model_config.
dd::NetworkFn load_network(const std::string& file) {
  const auto& unet = manifest().at("unet");
  std::string cfg;
  for (const auto& [name, entry] : unet.items())
    if (entry.is_object() && entry.contains("model_config") && "unet_" + name + ".pt" == file) cfg = name;
  if (cfg.empty()) throw std::runtime_error("manifest.unet has no model_config for " + file);
  auto config = dd::UNetConfig::from_model_config(unet.at(cfg).at("model_config"));
  dd::UNetModel model(config);
  disco::io::load_state_dict(*model, disco::io::load_weights_file(disco::test::fixture_path(file)), file);
  model->eval();
  return [model](const Tensor& x, const Tensor& t) mutable { return model->forward(x, t); };
}
#else
dd::NetworkFn load_network(const std::string&) { return {}; }
#endif

// A network call counter and t_model recorder around `net`.
struct Recorder {
  dd::NetworkFn net;
  std::vector<Tensor> t_models;
  dd::NetworkFn fn() {
    return [this](const Tensor& x, const Tensor& t) {
      t_models.push_back(t.clone());
      return net(x, t);
    };
  }
};

// eta of a DDIM case: the case's or the run's "eta", else the "eta=<v>" of the procedure text.
double eta_of(const json& sec, const json& run, const json& c) {
  if (c.contains("eta")) return c.at("eta");
  if (run.contains("eta")) return run.at("eta");
  const std::regex re("eta=([0-9]*\\.?[0-9]+)");
  for (const auto& line : sec.at("procedure")) {
    std::smatch m;
    const std::string s = line.get<std::string>();
    if (std::regex_search(s, m, re)) return std::stod(m[1]);
  }
  throw std::runtime_error("manifest.samplers gives no eta");
}

// What a run case of manifest.samplers may hold, by kind; anything else is an unhandled case.
const std::set<std::string> kDdimCaseKeys = {"k", "t_model", "eta"};
const std::set<std::string> kPlmsCaseKeys = {"k1", "k2", "history_len_after_step1", "history_len_after_step2"};
const std::set<std::string> kRunSettings = {"steps", "T_orig", "eta"};

// "" when every key of case `c` is in `known`, else the first one that is not.
std::string unknown_key(const json& c, const std::set<std::string>& known) {
  for (const auto& [key, value] : c.items())
    if (!known.count(key)) return key;
  return "";
}

}  // namespace

TEST(Samplers, DdimAndPlmsStepsMatchReferenceOnTinyUNet) {
  if (!DISCO_HAVE_UNET) GTEST_SKIP() << "src/diffusion/unet.h (the UNet) is not in this tree yet";
  Fixture s("samplers");
  const json& run = s.sec().at("run");
  const auto schedule = dd::make_schedule(run.at("T_orig"), "ddim" + std::to_string(run.at("steps").get<int64_t>()));
  Recorder rec{load_network(s.sec().at("model")), {}};
  const auto model = dd::make_denoiser(schedule, rec.fn());
  int cases = 0;
  for (const auto& [name, c] : run.items()) {
    SCOPED_TRACE(name);
    if (!c.is_object()) {
      if (!kRunSettings.count(name)) ADD_FAILURE() << "unhandled case samplers.run." << name << ": a run setting no rule reads";
      continue;
    }
    const bool ddim = c.contains("k"), plms = c.contains("k1");
    if (ddim == plms) {
      ADD_FAILURE() << "unhandled case samplers.run." << name << ": " << (ddim ? "both" : "neither")
                    << " k (one DDIM step) " << (ddim ? "and" : "nor") << " k1 (two PLMS steps)";
      continue;
    }
    if (const auto key = unknown_key(c, ddim ? kDdimCaseKeys : kPlmsCaseKeys); !key.empty()) {
      ADD_FAILURE() << "unhandled case samplers.run." << name << ": no rule for its key '" << key << "'";
      continue;
    }
    if (ddim) {  // one ddim_sample call with the stored noise
      const int64_t k = c.at("k");
      rec.t_models.clear();
      auto step = dd::ddim_step(schedule, model, s[name + ".x"], k, eta_of(s.sec(), run, c), s[name + ".noise"]);
      ASSERT_EQ(rec.t_models.size(), 1u);
      EXPECT_EQ(rec.t_models[0][0].item<float>(), c.at("t_model").get<float>());
      if (s.lists(name + ".t_model")) s.check(rec.t_models[0], name + ".t_model");
      s.check(step.sample, name + ".sample");
      s.check(step.pred_xstart, name + ".pred_xstart");
      ++cases;
    } else {  // two plms_sample calls: <name>1 (Euler), <name>2 (AB2)
      const std::string p1 = name + "1", p2 = name + "2";
      dd::PlmsState state;
      rec.t_models.clear();
      auto step1 = dd::plms_step(schedule, model, s[p1 + ".x"], c.at("k1"), state);
      ASSERT_EQ(rec.t_models.size(), 2u);
      if (s.lists(p1 + ".t_model_call1")) s.check(rec.t_models[0], p1 + ".t_model_call1");
      if (s.lists(p1 + ".t_model_call2")) s.check(rec.t_models[1], p1 + ".t_model_call2");
      if (c.contains("history_len_after_step1")) {
        EXPECT_EQ(state.old_eps.size(), c.at("history_len_after_step1").get<size_t>());
      }
      s.check(step1.x_mid, p1 + ".x_mid");
      s.check(step1.sample, p1 + ".sample");
      s.check(step1.pred_xstart, p1 + ".pred_xstart");
      s.check(state.old_eps.at(0), p1 + ".old_eps_0");

      rec.t_models.clear();
      auto step2 = dd::plms_step(schedule, model, step1.sample, c.at("k2"), state);
      ASSERT_EQ(rec.t_models.size(), 1u);
      if (s.lists(p2 + ".t_model")) s.check(rec.t_models[0], p2 + ".t_model");
      if (c.contains("history_len_after_step2")) {
        EXPECT_EQ(state.old_eps.size(), c.at("history_len_after_step2").get<size_t>());
      }
      s.check(step2.sample, p2 + ".sample");
      s.check(step2.pred_xstart, p2 + ".pred_xstart");
      s.check(state.old_eps.back(), p2 + ".old_eps_0");
      ++cases;
    }
  }
  EXPECT_GT(cases, 0) << "manifest.samplers.run holds no DDIM or PLMS case";
}

// The PLMS sampler with DD's guidance: the cond_fn outputs recorded by the reference
// (step1.grad_call1, step1.grad_call2, step2.grad) are replayed in call order, so this checks the
// sampler's use of the gradient (condition_score, Euler probe, AB2) independent of CLIP.
TEST(Samplers, PlmsWithReplayedCondFnMatchesReference) {
  if (!DISCO_HAVE_UNET) GTEST_SKIP() << "src/diffusion/unet.h (the UNet) is not in this tree yet";
  Fixture s("plms_cond_fn");
  const json& run = s.sec().at("run");
  const auto schedule = dd::make_schedule(run.at("T_orig"), "ddim" + std::to_string(run.at("steps").get<int64_t>()));
  const std::string model_file = s.sec().at("models").at("diffusion_model");
  Recorder rec{load_network(model_file), {}};
  const std::vector<std::string> grads = {"step1.grad_call1", "step1.grad_call2", "step2.grad"};
  const std::vector<std::string> t_names = {"step1.t_model_call1", "step1.t_model_call2", "step2.t_model"};
  size_t call = 0;
  dd::CondFn replay = [&](const Tensor& x, const Tensor& t, int64_t k) {
    EXPECT_LT(call, grads.size()) << "more cond_fn calls than the reference made";
    if (call >= grads.size()) return torch::zeros_like(x);
    if (s.lists(t_names[call])) s.check(t, t_names[call]);
    return s[grads[call++]];
  };
  const auto guided = dd::with_condition_score(dd::make_denoiser(schedule, rec.fn()), replay, schedule);

  const int64_t k1 = run.at("k1"), k2 = run.at("k2");
  const int64_t skip = run.at("skip");
  ASSERT_EQ(dd::first_index(schedule, skip), k1);
  const Tensor x_start = dd::loop_start(schedule, s["noise"], Tensor(), skip);
  s.check(x_start, "x_start");

  dd::PlmsState state;
  auto step1 = dd::plms_step(schedule, guided, x_start, k1, state);
  s.check(step1.x_mid, "step1.x_mid");
  s.check(state.old_eps.at(0), "step1.old_eps_0");
  s.check(step1.sample, "step1.sample");
  auto step2 = dd::plms_step(schedule, guided, step1.sample, k2, state);
  s.check(state.old_eps.back(), "step2.old_eps_0");
  s.check(step2.sample, "step2.sample");
  EXPECT_EQ(call, grads.size());
}
