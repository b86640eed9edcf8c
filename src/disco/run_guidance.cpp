// The guidance settings a run hands to cond_fn (dd-spec §2.10, §5), shared by the run and the
// benchmark so both guide exactly alike.
#include <cmath>

#include "common/device.h"
#include "common/error.h"
#include "disco/memory_plan.h"
#include "disco/run_internal.h"
#include "disco/schedule_string.h"

namespace disco::run_detail {
namespace dg = guidance;

// DD's cut schedules as cond_fn reads them: the first 1000 entries; counts must be whole numbers.
dg::CutSchedules cut_schedules(const Settings& s) {
  const auto counts = [](const std::vector<double>& v, const char* name) {
    std::vector<int64_t> out;
    for (size_t k = 0; k < kCutScheduleLength; ++k) {
      DISCO_CHECK(v[k] >= 0 && v[k] == std::floor(v[k]), SettingsError, "setting '", name, "': entry ", k, " is ",
                  v[k], ", but cut counts must be whole numbers >= 0.");
      out.push_back(static_cast<int64_t>(v[k]));
    }
    return out;
  };
  dg::CutSchedules c;
  c.overview = counts(s.cut_overview_schedule(), "cut_overview");
  c.innercut = counts(s.cut_innercut_schedule(), "cut_innercut");
  const auto ic_pow = s.cut_ic_pow_schedule();
  const auto gray = s.cut_icgray_p_schedule();
  c.ic_pow.assign(ic_pow.begin(), ic_pow.begin() + kCutScheduleLength);
  c.icgray_p.assign(gray.begin(), gray.begin() + kCutScheduleLength);
  return c;
}

dg::CondFnSettings cond_fn_settings(const Settings& s, int64_t cuts_per_pass) {
  dg::CondFnSettings cs;
  cs.clip_guidance_scale = s.clip_guidance_scale;
  cs.tv_scale = s.tv_scale;
  cs.range_scale = s.range_scale;
  cs.sat_scale = s.sat_scale;
  cs.init_scale = s.init_scale;
  cs.cutn_batches = s.cutn_batches;
  cs.cuts_per_pass = cuts_per_pass;
  cs.clamp_grad = s.clamp_grad;
  cs.clamp_max = s.clamp_max;
  cs.skip_augs = s.skip_augs;
  cs.aug_mode = dg::AugMode::None;
  cs.cuts = cut_schedules(s);
  return cs;
}

ParkedTextEncoders::ParkedTextEncoders(LoadedModels& m) : m_(m) {
  if (!m_.device.is_cuda()) return;
  for (auto& c : m_.clip) c.second->move_text_encoder(torch::kCPU);
}

ParkedTextEncoders::~ParkedTextEncoders() {
  if (!m_.device.is_cuda()) return;
  for (auto& c : m_.clip) c.second->move_text_encoder(m_.device);
}

int64_t plan_memory(const Settings& s, LoadedModels& m, const RunOptions& o, const Callbacks& cb,
                    MemoryEstimate* planned) {
  // Measured on the device where the allocator reports statistics, else modelled.
  const auto estimate_for = [&](int64_t cuts) {
    const auto measured = measure_memory(s, m, cuts);
    return measured ? *measured : estimate_memory(s, m, cuts);
  };
  if (o.cuts_per_pass > 0) {
    if (planned) *planned = estimate_for(o.cuts_per_pass);
    return o.cuts_per_pass;
  }
  int64_t budget = o.max_vram_gib > 0 ? static_cast<int64_t>(o.max_vram_gib * 1024 * 1024 * 1024) : 0;
  if (budget == 0 && m.device.is_cuda()) {
    const auto card = device_memory(m.device);
    const auto used = memory_stats(m.device);
    if (card.free >= 0 && used.known()) budget = card.free + used.current;
  }
  if (budget == 0) {  // CPU: all of a model's cuts in one pass
    if (planned) *planned = estimate_memory(s, m, 0);
    return 0;
  }
  // The margin covers the caching allocator's rounding and fragmentation.
  MemoryEstimate estimate;
  const int64_t chosen = plan_cuts_per_pass(s, estimate_for(0), budget - budget / 16, &estimate);
  log(cb, "memory: estimated peak " + estimate.describe() + " within " + format_gib(budget) +
              (chosen ? "; CLIP takes " + std::to_string(chosen) + " cuts per pass" : ""));
  if (planned) *planned = estimate;
  return chosen;
}

}  // namespace disco::run_detail
