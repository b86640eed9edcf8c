#include "disco/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <set>

#include "common/attention.h"
#include "common/device.h"
#include "common/error.h"
#include "common/side_stream.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "clip/preprocess.h"
#include "disco/run_internal.h"
#include "guidance/cond_fn.h"
#include "guidance/cutouts.h"

namespace disco {
namespace {

// Bytes per pixel (and per channel where named) that the models keep, by phase: the allocator's
// peaks at 1280x768 on an H200 (libtorch 2.11, fp16 torso, fused attention; docs/performance.md)
// divided out. Used where the device reports no statistics; measure_memory replaces them on CUDA.
constexpr double kUNetTransient = 4.5;         // widest block's working set, per channel (norms in place)
constexpr double kUNetBackward = 9.5;          // one recomputed block's graph in the backward pass, per channel
constexpr double kUNetNoCheckpoint = 8;        // whole-graph factor when checkpointing is off
constexpr double kSecondaryHeld = 2150;        // secondary model's graph during the CLIP passes (not checkpointed)
constexpr double kSecondaryCheckpointed = 80;  // its saved input when checkpointed
constexpr double kSecondaryBackward = 3650;    // its backward pass (fp32, 64 channels at full size)
constexpr double kSecondaryBackwardSegmented = 2980;  // the same, recomputed in checkpointed segments
constexpr double kGuidancePerPixel = 160;      // x, x̂0, x_in and their gradients, 3 channels fp32
// A cut's crops, augmentations and normalisation: the graph the CLIP passes wait beside, and the
// peak through its backward pass, per value of the cuts (3 x side² each). Measured on the CPU
// (bench/memory_probe cutouts, with a fixed mmap threshold so that the resident size follows the
// tensors): 0.57 and 0.81 GiB for DD's 4 x 16 cuts of 224² at 1280x768.
constexpr double kCutGraphPerValue = 64;
constexpr double kCutBackwardPerValue = 90;
constexpr double kViTPerTokenWidth = 12.5;     // saved tensors per token, width and layer (x dtype bytes)
// ... less with the lean MLP (clip::TransformerImpl::set_lean_mlp): 4 x width of hidden layer kept as 1 x
// width of input, less the backward's recomputed hidden layer. ViT-B/16 on the CPU (fp32, bench/memory_probe
// clip): 97 MB a cut, 82 lean.
constexpr double kViTLeanMlpSaving = 2.4;
constexpr double kViTFloatPerTokenWidth = 8;   // the fp32 LayerNorm inputs on top
constexpr double kResNetPerValue = 7;          // a ResNet's saved activations per output value (fp16)
constexpr double kResNetFoldedPerValue = 2.35; // the same with its BatchNorms folded (--precision fast)

int64_t tensor_bytes(const torch::nn::Module& m, bool skip_text) {
  int64_t total = 0;
  const auto count = [&](const std::string& name, const torch::Tensor& t) {
    if (!t.defined()) return;
    if (skip_text && (name.rfind("transformer.", 0) == 0 || name.rfind("token_embedding.", 0) == 0 ||
                      name.rfind("ln_final.", 0) == 0 || name == "positional_embedding" || name == "text_projection"))
      return;
    total += t.numel() * static_cast<int64_t>(t.element_size());
  };
  for (const auto& p : m.named_parameters()) count(p.key(), p.value());
  for (const auto& b : m.named_buffers()) count(b.key(), b.value());
  return total;
}

// Sum of channels x relative area of the skip connections the UNet keeps during a forward pass,
// and of the output blocks' (concatenated) inputs; the widest full-size block input in channels.
struct UNetShape {
  double skips = 0, output_inputs = 0, widest = 0;
};
UNetShape unet_shape(const diffusion::UNetConfig& c) {
  const auto chans = c.level_channels();
  UNetShape u;
  std::vector<std::pair<double, double>> skips;  // channels, area
  double area = 1;
  skips.push_back({static_cast<double>(chans[0]), area});
  for (size_t level = 0; level < chans.size(); ++level) {
    for (int64_t r = 0; r < c.num_res_blocks; ++r) skips.push_back({static_cast<double>(chans[level]), area});
    if (level + 1 < chans.size()) {
      area /= 4;
      skips.push_back({static_cast<double>(chans[level]), area});
    }
  }
  for (const auto& [ch, a] : skips) u.skips += ch * a;
  double ch = static_cast<double>(chans.back());
  for (size_t level = chans.size(); level-- > 0;) {
    const double a = std::pow(0.25, static_cast<double>(level));
    for (int64_t i = 0; i <= c.num_res_blocks; ++i) {
      const double in = ch + skips.back().first;
      skips.pop_back();
      u.output_inputs += in * a;
      if (level == 0) u.widest = std::max(u.widest, in);
      ch = static_cast<double>(chans[level]);
    }
  }
  return u;
}

int64_t clip_bytes_per_cut(const clip::CLIPConfig& c, double act_bytes, bool folded, bool lean_mlp) {
  if (c.is_vit) {
    const double tokens = std::pow(static_cast<double>(c.image_resolution / c.vision_patch_size), 2) + 1;
    const double layers = static_cast<double>(c.vision_layers.at(0));
    const double saved = kViTPerTokenWidth - (lean_mlp ? kViTLeanMlpSaving : 0.0);
    double bytes = (saved * act_bytes + kViTFloatPerTokenWidth) * tokens * c.vision_width * layers;
    if (!fused_attention_available())  // explicit [T, T] weights per head, logits and softmax
      bytes += 3 * act_bytes * tokens * tokens * c.vision_heads() * layers;
    return static_cast<int64_t>(bytes);
  }
  // ModifiedResNet: stem at R/2 and R/4, then stages of bottlenecks (outputs 4 x planes).
  const double r = static_cast<double>(c.image_resolution);
  const double w = static_cast<double>(c.vision_width);
  double values = 2.5 * w * std::pow(r / 2, 2);
  double planes = w, side = r / 4;
  for (size_t stage = 0; stage < c.vision_layers.size(); ++stage) {
    values += static_cast<double>(c.vision_layers[stage]) * (planes * 2 + planes * 4) * side * side;
    planes *= 2;
    side /= 2;
  }
  return static_cast<int64_t>((folded ? kResNetFoldedPerValue : kResNetPerValue) * act_bytes / 2 * values);
}

// The cutouts' graph (held: while the CLIP passes run; else the peak through its backward pass)
// for the model with the largest cuts, plus the padded image each cutn batch resizes.
int64_t cut_graph_bytes(const Settings& s, const LoadedModels& m, bool held) {
  const double all_cuts = static_cast<double>(max_cuts_per_step(s));
  const double square = std::pow(std::max(s.side_x(), s.side_y()), 2);
  const double per_value = held ? kCutGraphPerValue : kCutBackwardPerValue;
  int64_t graph = 0;
  for (const auto& c : m.clip) {
    const double side = static_cast<double>(c.second->config().image_resolution);
    graph = std::max(graph, static_cast<int64_t>(per_value * 3 * side * side * all_cuts +
                                                 4.0 * 3 * square * s.cutn_batches));
  }
  return graph;
}

// cond_fn's float32 buffer for CLIP's gradient w.r.t. a model's cuts, held through its CLIP passes.
int64_t cut_grad_bytes(const Settings& s, const LoadedModels& m) {
  int64_t most = 0;
  for (const auto& c : m.clip)
    most = std::max(most, 4 * 3 * c.second->config().image_resolution * c.second->config().image_resolution *
                              max_cuts_per_step(s));
  return most;
}

// An estimate that knows which memory-saving modes the models are in now, and nothing else yet.
MemoryEstimate with_model_modes(const LoadedModels& m) {
  MemoryEstimate e;
  e.offload_skips = !m.unet.is_empty() && m.unet->offload_skips();
  e.offload_checkpoints = !m.unet.is_empty() && m.unet->checkpoint_offload();
  e.lean_graph = !m.unet.is_empty() && m.unet->lean_graph();
  for (const auto& c : m.clip) e.lean_clip_mlp = e.lean_clip_mlp || c.second->lean_image_mlp();
  return e;
}

}  // namespace

int64_t MemoryEstimate::peak() const {
  const int64_t more_models = std::max<int64_t>(0, models_per_cut_call - 1);
  const int64_t guiding = std::max({guidance + more_models * cutouts + clip_per_cut * cuts_per_pass,
                                    cutouts_backward + more_models * cutouts_peak, backward});
  return weights + (overlap_sampler ? sampler + guiding : std::max(sampler - parked, guiding));
}

std::string format_gib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string MemoryEstimate::describe() const {
  return format_gib(peak()) + (measured ? " measured" : " modelled") + " (weights " + format_gib(weights) +
         ", sampler UNet " + format_gib(sampler) + (offload_skips ? " with its top skips on the host" : "") +
         (parked > 0 ? " while CLIP's image encoders (" + format_gib(parked) + ") wait on the host" : "") +
         ", guidance " + (offload_checkpoints ? std::string("(checkpointed inputs on the host) ") : std::string()) +
         format_gib(guidance) + " + CLIP " +
         format_gib(clip_per_cut * cuts_per_pass) + " for " + std::to_string(cuts_per_pass) + " cuts per pass" +
         (models_per_cut_call > 1 ? ", cutouts for " + std::to_string(models_per_cut_call) + " models at once" : std::string()) +
         (lean_clip_mlp ? std::string(" (lean MLPs)") : std::string()) + ", cutouts' backward " + format_gib(cutouts_backward) + ", x̂0 backward " + (lean_graph ? std::string("(lean graph) ") : std::string()) +
         format_gib(backward) + (overlap_sampler ? std::string("; the sampler's UNet beside the guidance") : std::string()) +
         ")";
}

std::string overlap_refusal(const Settings& s, const MemoryEstimate& e, const torch::Device& device, int64_t room) {
  if (!s.use_secondary_model) return "without the secondary model, the guidance's UNet pass serves the sampler";
  if (!SideStream::available(device)) return "only a CUDA device has a second stream";
  if (e.offload_skips || e.parked > 0) return "the budget already needs the sampler's memory savings";
  MemoryEstimate both = e;
  both.overlap_sampler = true;
  if (room > 0 && both.peak() > room)
    return "both at once need " + format_gib(both.peak()) + ", more than the budget leaves (" + format_gib(room) + ")";
  return "";
}

int64_t largest_cut_group(const LoadedModels& m) {
  std::vector<int64_t> sides;
  for (const auto& c : m.clip) sides.push_back(c.second->config().image_resolution);
  size_t most = 0;
  for (const auto& [first, end] : guidance::cutouts_calls(sides, /*across_models=*/true)) most = std::max(most, end - first);
  return static_cast<int64_t>(most);
}

int64_t max_cuts_per_step(const Settings& s) {
  const auto overview = s.cut_overview_schedule(), inner = s.cut_innercut_schedule();
  double most = 0;
  for (size_t k = 0; k < std::min(overview.size(), inner.size()); ++k) most = std::max(most, overview[k] + inner[k]);
  return static_cast<int64_t>(most) * s.cutn_batches;
}

MemoryEstimate estimate_memory(const Settings& s, const LoadedModels& m, int64_t cuts_per_pass) {
  MemoryEstimate e = with_model_modes(m);
  const double act = m.mixed ? 2 : 4;  // the UNet torso's and CLIP's activation bytes
  const double pixels = static_cast<double>(s.side_x()) * s.side_y();
  if (!m.unet.is_empty()) e.weights += tensor_bytes(*m.unet, false);
  if (!m.secondary.is_empty()) e.weights += tensor_bytes(*m.secondary, false);
  if (!m.lpips.is_empty()) e.weights += tensor_bytes(*m.lpips, false);
  for (const auto& c : m.clip) e.weights += tensor_bytes(*c.second, true);

  const UNetShape u = unet_shape(m.unet_config);
  e.sampler = static_cast<int64_t>(pixels * (act * u.skips + kUNetTransient * u.widest));
  if (e.offload_skips)  // the full-resolution skips wait on the host
    e.sampler -= static_cast<int64_t>(pixels * act * m.unet_config.level_channels().front() * (m.unet_config.num_res_blocks + 1));
  double held = kGuidancePerPixel, backward = kGuidancePerPixel;
  if (s.use_secondary_model) {
    // The run checkpoints the secondary model on CUDA only (run.cpp).
    const bool checkpointed = s.use_checkpoint && m.device.is_cuda();
    // --precision fast halves its activations (a scaling, not a calibration of its own).
    const double sec = m.fast ? 0.5 : 1.0;
    held += sec * (checkpointed ? kSecondaryCheckpointed : kSecondaryHeld);
    backward += sec * (checkpointed ? kSecondaryBackwardSegmented : kSecondaryBackward);
  } else {
    const double kept = act * (2 * u.skips + u.output_inputs) + kUNetBackward * u.widest;
    // The checkpointed blocks' inputs, unless they wait on the host.
    const double inputs = e.offload_checkpoints ? 0 : act * (u.skips + u.output_inputs);
    held += s.use_checkpoint ? inputs : kUNetNoCheckpoint * kept;
    backward += s.use_checkpoint ? kept - act * (u.skips + u.output_inputs) + inputs : kUNetNoCheckpoint * kept;
  }
  for (const auto& c : m.clip)
    e.clip_per_cut = std::max(e.clip_per_cut, clip_bytes_per_cut(c.second->config(), act, m.fast, c.second->lean_image_mlp()));
  e.cutouts = cut_graph_bytes(s, m, /*held=*/true) + cut_grad_bytes(s, m);
  e.cutouts_peak = cut_graph_bytes(s, m, /*held=*/false);
  e.guidance = static_cast<int64_t>(pixels * held) + e.cutouts;
  e.cutouts_backward = static_cast<int64_t>(pixels * held) + e.cutouts_peak;
  e.backward = static_cast<int64_t>(pixels * backward);
  const int64_t all_cuts = max_cuts_per_step(s);
  e.cuts_per_pass = cuts_per_pass > 0 ? std::min(cuts_per_pass, all_cuts) : all_cuts;
  return e;
}

int64_t plan_cuts_per_pass(const Settings& s, const MemoryEstimate& base, int64_t budget, MemoryEstimate* out,
                           const std::string& hint) {
  const int64_t all_cuts = max_cuts_per_step(s);
  MemoryEstimate e = base;
  e.cuts_per_pass = all_cuts;
  int64_t chosen = 0;
  if (e.peak() > budget) {
    // The most cuts that fit, rounded down to a whole cutn batch where possible.
    const int64_t room = budget - e.weights - e.guidance;
    int64_t n = e.clip_per_cut > 0 && room > 0 ? room / e.clip_per_cut : 0;
    const int64_t batch = all_cuts / std::max<int64_t>(1, s.cutn_batches);
    if (n > batch) n = n / batch * batch;
    MemoryEstimate one = base;
    one.cuts_per_pass = 1;
    DISCO_CHECK(n >= 1 && one.peak() <= budget, RuntimeError, "this run needs about ", one.describe(),
                " even with one cut per CLIP pass, more than the ", format_gib(budget),
                " budget. Lower width_height (memory grows with the pixel count)",
                s.use_secondary_model ? "" : ", turn use_secondary_model on (the UNet's gradient is the largest part)",
                hint.empty() ? "" : ", " + hint, ", or use fewer CLIP models.");
    chosen = std::min(n, all_cuts);
    e.cuts_per_pass = chosen;
  }
  if (out) *out = e;
  return chosen;
}

namespace {

// Allocator bytes above what was allocated before `f`, at its peak and when it returns.
struct Probe {
  int64_t peak = 0, held = 0;
};
Probe probe(const torch::Device& device, const std::function<void()>& f) {
  synchronize(device);
  const int64_t before = memory_stats(device).current;
  reset_peak_memory(device);
  f();
  synchronize(device);
  const auto after = memory_stats(device);
  return {std::max<int64_t>(0, after.peak - before), std::max<int64_t>(0, after.current - before)};
}

// x̂0 with its graph: what stays during the CLIP passes (held, above the weights) and the
// backward pass's peak.
Probe probe_x0(const Settings& s, LoadedModels& m, const torch::Tensor& x, int64_t weights) {
  const auto device = m.device;
  auto unet = m.unet;
  int64_t held = 0;
  const auto schedule = diffusion::dd_schedule(s.steps);
  guidance::CondFnModels guide;
  guide.schedule = &schedule;
  guide.use_secondary_model = s.use_secondary_model;
  guide.secondary = m.secondary;
  guide.network = [unet](const torch::Tensor& xt, const torch::Tensor& tt) mutable { return unet->forward(xt, tt); };
  const Probe x0 = probe(device, [&] {
    torch::AutoGradMode grad(true);
    const auto xg = x.clone().requires_grad_(true);
    const auto pred = guidance::predict_x0(guide, xg, diffusion::first_index(schedule, s.skip_steps));
    synchronize(device);
    held = memory_stats(device).current;
    torch::autograd::grad({pred}, {xg}, {torch::ones_like(pred)});
  });
  return {x0.peak, std::max<int64_t>(0, held - weights)};
}

// Each CLIP model's pass at 2 and 8 cuts: {bytes per cut (the largest), the rest (the largest)}.
std::pair<int64_t, int64_t> probe_clip(LoadedModels& m) {
  const auto opts = torch::TensorOptions().device(m.device);
  int64_t per_cut = 0, base = 0;
  for (auto& named : m.clip) {
    clip::CLIP& model = named.second;
    const int64_t side = model->config().image_resolution;
    const auto pass = [&](int64_t n) {
      return probe(m.device, [&] {
        torch::AutoGradMode grad(true);
        const auto cuts = torch::zeros({n, 3, side, side}, opts).requires_grad_(true);
        torch::autograd::grad({model->encode_image(cuts).sum()}, {cuts});
      }).peak;
    };
    const int64_t p2 = pass(2), p8 = pass(8);
    const int64_t slope = std::max<int64_t>(0, (p8 - p2) / 6);
    per_cut = std::max(per_cut, slope);
    base = std::max(base, std::max<int64_t>(0, p2 - 2 * slope));
  }
  return {per_cut, base};
}

// Each input resolution's cutouts for the step with the most cuts, with their own generators:
// {what the forward pass holds, the backward pass's peak} (the largest over resolutions).
Probe probe_cutouts(const Settings& s, LoadedModels& m, const torch::Tensor& x,
                    const guidance::CutoutsExecution& execution) {
  const auto device = m.device;
  const auto sched = run_detail::cut_schedules(s);
  size_t most = 0;
  for (size_t k = 0; k < sched.overview.size(); ++k)
    if (sched.overview[k] + sched.innercut[k] > sched.overview[most] + sched.innercut[most]) most = k;
  Probe out{0, 0};  // {peak, held}
  std::set<int64_t> sides;  // models of one input resolution cut alike: probed once
  for (const auto& c : m.clip) sides.insert(c.second->config().image_resolution);
  for (const int64_t side : sides) {
    const guidance::MakeCutoutsDango cutouts({side, sched.overview[most], sched.innercut[most], sched.ic_pow[most],
                                              sched.icgray_p[most]},
                                             guidance::AugMode::None, s.skip_augs, execution);
    auto cpu = guidance::make_cpu_generator(0);
    at::Generator noise = device.is_cpu() ? cpu : make_device_generator(device, 0);
    int64_t before = 0, after_forward = 0;
    const Probe cut = probe(device, [&] {
      torch::AutoGradMode grad(true);
      const auto xg = x.clone().requires_grad_(true);
      before = memory_stats(device).current;
      const auto input = xg.add(1).div(2);
      const auto cuts = clip::normalize(cutouts.batches(input, cutouts.overview(input), s.cutn_batches, cpu, noise));
      synchronize(device);
      after_forward = memory_stats(device).current;
      torch::autograd::grad({cuts}, {xg}, {torch::ones_like(cuts)});
    });
    out.held = std::max(out.held, after_forward - before);
    out.peak = std::max(out.peak, cut.peak);
  }
  return out;
}

}  // namespace

std::optional<MemoryEstimate> measure_memory(const Settings& s, LoadedModels& m, int64_t cuts_per_pass,
                                             const guidance::CutoutsExecution& execution) {
  const auto device = m.device;
  if (!memory_stats(device).known() || m.unet.is_empty()) return std::nullopt;
  MemoryEstimate e = with_model_modes(m);
  e.measured = true;
  e.weights = memory_stats(device).current;  // everything this process holds on the device now
  const auto opts = torch::TensorOptions().device(device);
  const auto x = torch::zeros({1, 3, s.side_y(), s.side_x()}, opts);
  const auto t = torch::full({1}, 500.0f, opts);
  auto unet = m.unet;
  e.sampler = probe(device, [&] {
    torch::NoGradGuard no_grad;
    unet->forward(x, t);
  }).peak;
  const Probe x0 = probe_x0(s, m, x, e.weights);  // {backward peak, held}
  const auto [clip_per_cut, clip_base] = probe_clip(m);
  const Probe cut = probe_cutouts(s, m, x, execution);
  e.backward = x0.peak;
  e.clip_per_cut = clip_per_cut;
  e.cutouts = cut.held + cut_grad_bytes(s, m);
  e.cutouts_peak = cut.peak;
  e.guidance = x0.held + e.cutouts + clip_base;
  e.cutouts_backward = x0.held + cut.peak;
  e.cuts_per_pass = cuts_per_pass > 0 ? std::min(cuts_per_pass, max_cuts_per_step(s)) : max_cuts_per_step(s);
  return e;
}

}  // namespace disco
