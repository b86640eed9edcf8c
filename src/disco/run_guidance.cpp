// The guidance settings a run hands to cond_fn (dd-spec §2.10, §5), shared by the run and the
// benchmark so both guide exactly alike.
#include <algorithm>
#include <cmath>
#include <functional>

#include "common/device.h"
#include "common/error.h"
#include "disco/execution.h"
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

dg::CondFnSettings cond_fn_settings(const Settings& s, int64_t cuts_per_pass, bool cutouts_across_models) {
  dg::CondFnSettings cs;
  cs.clip_guidance_scale = s.clip_guidance_scale;
  cs.tv_scale = s.tv_scale;
  cs.range_scale = s.range_scale;
  cs.sat_scale = s.sat_scale;
  cs.init_scale = s.init_scale;
  cs.cutn_batches = s.cutn_batches;
  cs.cuts_per_pass = cuts_per_pass;
  cs.cutouts_across_models = cutouts_across_models;
  cs.clamp_grad = s.clamp_grad;
  cs.clamp_max = s.clamp_max;
  cs.skip_augs = s.skip_augs;
  cs.aug_mode = s.animation_mode == AnimationMode::None ? dg::AugMode::None : dg::AugMode::Animation;
  cs.cuts = cut_schedules(s);
  return cs;
}

dg::CutoutsExecution cutouts_execution(const RunOptions& o) {
  const std::string& b = o.augment_blocks;
  DISCO_CHECK(b == "auto" || b == "together" || b == "one-by-one", SettingsError,
              "augment_blocks must be auto, together or one-by-one, got '", b, "'.");
  dg::CutoutsExecution e;
  e.per_crop = o.per_crop_cutouts;
  e.blocks = b == "together" ? dg::BlockBatching::Together
             : b == "one-by-one" ? dg::BlockBatching::OneByOne
                                 : dg::BlockBatching::Auto;
  return e;
}

ParkedTextEncoders::ParkedTextEncoders(LoadedModels& m) : m_(m) {
  if (!m_.device.is_cuda()) return;
  for (auto& c : m_.clip) c.second->move_text_encoder(torch::kCPU);
}

ParkedTextEncoders::~ParkedTextEncoders() {
  if (!m_.device.is_cuda()) return;
  for (auto& c : m_.clip) c.second->move_text_encoder(m_.device);
}

namespace {
// Everything an image encoder holds on its device: parameters, buffers, and a ResNet's folded
// BatchNorm weights (derived tensors, outside the parameters).
std::vector<torch::Tensor> image_encoder_tensors(const clip::CLIPImpl& c) {
  std::vector<torch::Tensor> out;
  const torch::nn::Module& visual =
      c.config().is_vit ? static_cast<const torch::nn::Module&>(*c.vit) : static_cast<const torch::nn::Module&>(*c.resnet);
  for (const auto& p : visual.parameters()) out.push_back(p);
  for (const auto& b : visual.buffers()) out.push_back(b);
  if (c.resnet)
    for (const auto& f : c.resnet->folded_tensors()) out.push_back(f);
  return out;
}
}  // namespace

ImageEncoderParking::ImageEncoderParking(const LoadedModels& m) {
  torch::NoGradGuard no_grad;
  // On the CPU the "host copy" is a plain copy: nothing is saved, but the bookkeeping can be tested.
  for (const auto& c : m.clip)
    for (auto& t : image_encoder_tensors(*c.second))
      if (t.defined()) slots_.push_back({t, t.is_cuda() ? t.to(torch::kCPU).pin_memory() : t.clone()});
}

int64_t ImageEncoderParking::parkable_bytes(const LoadedModels& m) {
  if (!m.device.is_cuda()) return 0;
  int64_t bytes = 0;
  for (const auto& c : m.clip)
    for (const auto& t : image_encoder_tensors(*c.second))
      if (t.defined() && t.is_cuda()) bytes += t.numel() * static_cast<int64_t>(t.element_size());
  return bytes;
}

void ImageEncoderParking::park() {
  if (parked_ || slots_.empty()) return;
  torch::NoGradGuard no_grad;
  for (auto& s : slots_) s.tensor.set_data(torch::empty({0}, s.tensor.options()));
  parked_ = true;
}

void ImageEncoderParking::restore() {
  if (!parked_) return;
  torch::NoGradGuard no_grad;
  for (auto& s : slots_) s.tensor.set_data(s.host.to(s.tensor.device(), /*non_blocking=*/true));
  parked_ = false;
}

diffusion::NetworkFn with_parking(diffusion::NetworkFn network, ImageEncoderParking* parking) {
  return [network = std::move(network), parking](const torch::Tensor& x, const torch::Tensor& t) {
    parking->park();
    try {
      auto out = network(x, t);
      parking->restore();
      return out;
    } catch (...) {
      parking->restore();
      throw;
    }
  };
}

namespace {

// The bytes the plan may use: --max-vram, else on CUDA the card's free memory plus what this
// process holds; 0 on the CPU (no limit).
int64_t memory_budget(const RunOptions& o, const LoadedModels& m) {
  int64_t budget = o.max_vram_gib > 0 ? static_cast<int64_t>(o.max_vram_gib * 1024 * 1024 * 1024) : 0;
  if (budget == 0 && m.device.is_cuda()) {
    const auto card = device_memory(m.device);
    const auto used = memory_stats(m.device);
    if (card.free >= 0 && used.known()) budget = card.free + used.current;
  }
  return budget;
}

// The memory levers in order of cost, each turned on (on the models, to measure them) only while
// the step does not fit `room`; returns the estimate with 0 cuts per pass under those chosen.
MemoryEstimate choose_levers(const Settings& s, LoadedModels& m, Execution e, int64_t room,
                             const std::function<MemoryEstimate(int64_t)>& estimate_for) {
  MemoryEstimate base = estimate_for(0);
  const bool unet_on_cuda = !m.unet.is_empty() && m.device.is_cuda();
  const auto with = [&](bool Execution::*lever) {
    e.*lever = true;
    apply_execution(m, e);
    base = estimate_for(0);
  };
  if (base.weights + base.sampler > room && unet_on_cuda)
    with(&Execution::offload_skips);  // the sampler's full-resolution skips wait on the host
  const auto one_cut_fits = [&] {
    MemoryEstimate one = base;
    one.cuts_per_pass = 1;
    return one.peak() <= room;
  };
  if (!one_cut_fits() && !s.use_secondary_model && s.use_checkpoint && unet_on_cuda)
    with(&Execution::offload_checkpoints);  // the checkpointed inputs wait on the host
  if (!one_cut_fits() && !s.use_secondary_model && unet_on_cuda)
    with(&Execution::lean_graph);  // fewer activations kept, for time (docs/performance.md)
  const bool has_vit = std::any_of(m.clip.begin(), m.clip.end(), [](const auto& c) { return c.second->vit; });
  if (has_vit && base.weights + base.guidance + max_cuts_per_step(s) * base.clip_per_cut > room) {
    // The CLIP passes must be split: the ViTs' graphs keep their MLPs' inputs rather than hidden
    // layers, so that a pass takes more cuts, for one more matrix product a layer.
    with(&Execution::lean_clip_mlp);
  }
  if (base.weights + base.sampler > room && m.device.is_cuda())  // still: the image encoders leave meanwhile
    base.parked = ImageEncoderParking::parkable_bytes(m);
  return base;
}

std::string plan_summary(const MemoryEstimate& e, int64_t budget, int64_t chosen) {
  return "memory: estimated peak " + e.describe() + " within " + format_gib(budget) +
         (chosen ? "; CLIP takes " + std::to_string(chosen) + " cuts per pass" : "") +
         (e.offload_skips ? "; the UNet's full-resolution skips wait in host memory during the sampler's "
                            "forward pass (slower; it fits)" : "") +
         (e.offload_checkpoints ? "; the UNet's checkpointed inputs wait in host memory until the backward pass "
                                  "(slower; it fits)" : "") +
         (e.lean_graph ? "; the UNet's gradient keeps fewer activations and recomputes them (slower; it fits)" : "") +
         (e.lean_clip_mlp ? "; the ViTs' MLPs recompute their hidden layers in the backward pass (slower; more cuts "
                            "per pass)" : "") +
         (e.parked > 0 ? "; CLIP's image encoders wait in host memory during the sampler's UNet forward pass "
                         "(slower; it fits)" : "");
}

}  // namespace

int64_t plan_memory(const Settings& s, LoadedModels& m, const RunOptions& o, const Callbacks& cb,
                    MemoryEstimate* planned) {
  // The models as the options set them; the plan tries its levers on them and leaves them so.
  const Execution unplanned = execution_for(s, o);
  apply_execution(m, unplanned);
  struct Restore {
    LoadedModels& m;
    const Execution& e;
    ~Restore() { apply_execution(m, e); }
  } restore{m, unplanned};
  const auto cutouts = cutouts_execution(o);
  const auto estimate_for = [&](int64_t cuts) {  // measured where the allocator reports, else modelled
    const auto measured = measure_memory(s, m, cuts, cutouts);
    return measured ? *measured : estimate_memory(s, m, cuts);
  };
  // --overlap-sampler: the sampler's UNet beside the guidance, where both fit `room` at once (0: no limit).
  const auto decide_overlap = [&](MemoryEstimate& e, int64_t room) {
    if (!o.overlap_sampler) return;
    const std::string why = overlap_refusal(s, e, m.device, room);
    e.overlap_sampler = why.empty();
    log(cb, why.empty() ? "the sampler's UNet runs beside the guidance, on a second stream"
                        : "--overlap-sampler not used: " + why);
  };
  const int64_t budget = memory_budget(o, m);
  // The margin covers the caching allocator's rounding and fragmentation, and the estimate's own
  // error: measured peaks on the H200 came out 0.08 to 0.51 GiB above it (docs/performance.md).
  const int64_t room = budget - budget / 8;
  if (o.cuts_per_pass > 0 || budget == 0) {  // sized by the user, or the CPU: all of a model's cuts at once
    MemoryEstimate e = o.cuts_per_pass > 0 ? estimate_for(o.cuts_per_pass) : estimate_memory(s, m, 0);
    decide_overlap(e, o.cuts_per_pass > 0 ? room : 0);
    if (planned) *planned = e;
    return o.cuts_per_pass;
  }
  const MemoryEstimate base = choose_levers(s, m, unplanned, room, estimate_for);
  MemoryEstimate estimate;
  const std::string hint = m.mixed && !m.fast && s.use_secondary_model
                               ? "use --precision fast (the secondary model in half precision: about half its memory)"
                               : "";
  const int64_t chosen = plan_cuts_per_pass(s, base, room, &estimate, hint);
  decide_overlap(estimate, room);  // asked for: before what the plan does unasked
  if (m.device.is_cuda()) {
    // CLIP models of one input resolution share a cutouts call where their graphs fit together:
    // fewer kernel launches. On the CPU, where a step is not launch-bound, each keeps its own.
    MemoryEstimate shared = estimate;
    shared.models_per_cut_call = largest_cut_group(m);
    if (shared.models_per_cut_call > 1 && shared.peak() <= room) estimate = shared;
  }
  log(cb, plan_summary(estimate, budget, chosen));
  if (planned) *planned = estimate;
  return chosen;
}

}  // namespace disco::run_detail
