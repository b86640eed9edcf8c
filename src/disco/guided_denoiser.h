// The guidance of a run wired to its loaded models: cond_fn (the CLIP guides, the secondary model
// or the UNet's x̂0, the LPIPS init loss), the sampler's UNet call with the CLIP image encoders
// parked around it where the memory plan says so, and the second stream of --overlap-sampler.
// The run and `disco bench` both take their guided steps through it.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/side_stream.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "disco/memory_plan.h"
#include "disco/run_internal.h"
#include "guidance/cond_fn.h"

namespace disco {

class GuidedDenoiser {
 public:
  // `guides`: the CLIP targets in force first (set_guides changes them); `plan`: its parking,
  // second stream and shared cutouts calls (a default MemoryEstimate: none of them); `cutouts`: how
  // the cuts are computed (run_detail::cutouts_execution).
  GuidedDenoiser(const Settings& s, LoadedModels& m, std::vector<guidance::ClipGuide> guides, int64_t cuts_per_pass,
                 const MemoryEstimate& plan, const guidance::CutoutsExecution& cutouts = {});
  GuidedDenoiser(const GuidedDenoiser&) = delete;
  GuidedDenoiser& operator=(const GuidedDenoiser&) = delete;

  const diffusion::DiffusionSchedule& schedule() const { return schedule_; }
  guidance::CondFn& cond() { return *cond_; }
  // The sampler's UNet call (image encoders parked around it where planned).
  const diffusion::NetworkFn& network() const { return sampler_network_; }
  void set_guides(const std::vector<guidance::ClipGuide>& guides) { cond_->models().clip = guides; }
  // The image the LPIPS init loss compares with (undefined: no init loss), and its scale.
  void set_init(const torch::Tensor& init, double init_scale) {
    cond_->models().init = init;
    cond_->settings().init_scale = init_scale;
  }

  // What the sampler calls each step. Where DD's counter `cur_t` (read at each call; the caller
  // steps it) equals the step's index, cond_fn's UNet evaluation with gradients also serves the
  // sampler, which DD evaluates a second time.
  diffusion::Denoiser denoiser(const int64_t& cur_t, at::Generator& cpu, at::Generator& device);
  // DD's form: the sampler evaluates its network itself, on one stream (disco bench's check).
  diffusion::Denoiser dd_denoiser(const int64_t& cur_t, at::Generator& cpu, at::Generator& device);

 private:
  const Settings& s_;
  diffusion::DiffusionSchedule schedule_;
  diffusion::NetworkFn network_, sampler_network_;
  std::optional<run_detail::ImageEncoderParking> parking_;
  std::optional<SideStream> side_;
  std::unique_ptr<guidance::CondFn> cond_;
};

}  // namespace disco
