#include "disco/guided_denoiser.h"

namespace disco {

namespace dd = diffusion;
namespace dg = guidance;

GuidedDenoiser::GuidedDenoiser(const Settings& s, LoadedModels& m, std::vector<dg::ClipGuide> guides,
                               int64_t cuts_per_pass, const MemoryEstimate& plan,
                               const dg::CutoutsExecution& cutouts)
    : s_(s), schedule_(dd::dd_schedule(s.steps)) {
  auto unet = m.unet;
  network_ = [unet](const torch::Tensor& x, const torch::Tensor& t) mutable { return unet->forward(x, t); };
  if (plan.parked > 0) parking_.emplace(m);
  sampler_network_ = parking_ ? run_detail::with_parking(network_, &*parking_) : network_;
  if (plan.overlap_sampler) side_.emplace(m.device);
  dg::CondFnModels cm;
  cm.schedule = &schedule_;
  cm.use_secondary_model = s.use_secondary_model;
  cm.secondary = m.secondary;
  cm.network = network_;
  cm.clip = std::move(guides);
  if (run_detail::needs_lpips(s)) cm.lpips = m.lpips;
  auto settings = run_detail::cond_fn_settings(s, cuts_per_pass, plan.models_per_cut_call > 1);
  settings.cutouts_execution = cutouts;
  cond_ = std::make_unique<dg::CondFn>(cm, std::move(settings));
}

dd::Denoiser GuidedDenoiser::denoiser(const int64_t& cur_t, at::Generator& cpu, at::Generator& device) {
  return dd::with_shared_condition_score(sampler_network_, cond_->as_sampler_guidance(cur_t, cpu, device), schedule_,
                                         s_.clip_denoised, side_ ? &*side_ : nullptr);
}

dd::Denoiser GuidedDenoiser::dd_denoiser(const int64_t& cur_t, at::Generator& cpu, at::Generator& device) {
  return dd::with_condition_score(dd::make_denoiser(schedule_, sampler_network_, s_.clip_denoised),
                                  cond_->as_sampler_cond_fn(cur_t, cpu, device), schedule_);
}

}  // namespace disco
