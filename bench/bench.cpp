#include "bench/bench.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "clip/clip_config.h"
#include "common/device.h"
#include "common/error.h"
#include "common/side_stream.h"
#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "diffusion/unet_config.h"
#include "disco/guided_denoiser.h"
#include "disco/execution.h"
#include "disco/memory_plan.h"
#include "disco/run_internal.h"
#include "guidance/augmentations.h"
#include "guidance/cond_fn.h"
#include "guidance/cutouts.h"

namespace disco {
namespace {
namespace dd = diffusion;
namespace dg = guidance;
using namespace run_detail;
using Clock = std::chrono::steady_clock;

std::shared_ptr<LoadedModels> random_models(const Settings& s, const torch::Device& device, bool mixed,
                                            const std::function<void(const std::string&)>& log) {
  // The seed libtorch's default generators start from: on CUDA, the weights of the reports in
  // docs/performance.md.
  auto gen = make_device_generator(device, c10::default_rng_seed_val);
  auto m = std::make_shared<LoadedModels>();
  m->device = device;
  m->mixed = mixed;
  m->diffusion_name = s.diffusion_model;
  m->unet_config = dd::preset(s.diffusion_model).config;
  log("building " + s.diffusion_model + " with random weights");
  m->unet = dd::UNetModel(m->unet_config);
  freeze(*m->unet, device);
  randomize_weights(*m->unet, gen);  // on the device: seconds faster on a GPU
  if (mixed) m->unet->set_precision(mixed_dtype(device));
  m->secondary = dd::SecondaryDiffusionImageNet2();
  freeze(*m->secondary, device);
  randomize_weights(*m->secondary, gen);
  for (const auto& name : s.clip_model_names()) {
    const auto& known = clip::known_models();
    const auto it = std::find_if(known.begin(), known.end(), [&](const clip::KnownCLIP& k) { return k.name == name; });
    DISCO_CHECK(it != known.end(), SettingsError, "unknown CLIP model '", name, "'.");
    log("building CLIP " + name + " with random weights");
    clip::CLIP model(it->config);
    freeze(*model, device);
    if (mixed) model->convert_weights(mixed_dtype(device));
    m->clip.emplace_back(name, model);
  }
  return m;
}

std::vector<dg::ClipGuide> random_targets(LoadedModels& m, at::Generator& gen) {
  std::vector<dg::ClipGuide> guides;
  for (auto& [name, model] : m.clip) {
    dg::ClipGuide g;
    g.model = model;
    g.cut_size = model->config().image_resolution;
    const auto opts = torch::TensorOptions().device(m.device);
    auto target = torch::randn({1, model->config().embed_dim}, gen, opts);
    g.target_embeds = target / target.norm(2, -1, true);
    g.weights = torch::ones({1}, opts);
    guides.push_back(g);
  }
  return guides;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// Peak memory as the report gives it: the CUDA allocator's statistics, or on the CPU (no allocator
// statistics there) the process's resident peak.
MemoryStats bench_memory(const torch::Device& device) {
  return device.is_cpu() ? process_memory() : memory_stats(device);
}
void reset_bench_peak(const torch::Device& device) {
  if (device.is_cpu()) reset_process_peak();
  else reset_peak_memory(device);
}

// Where a GPU part's time goes: the host's time to queue `f`, and the device's time to run what
// it queued. `f` is queued behind busy kernels that last longer than the host needs, so the host
// runs ahead while the device is busy: host = until f returns; device = until drained, less the
// busy kernels. They are few (large matrix products), because the host blocks once about a
// thousand kernels are queued. A host time near the busy length means f waited for the device.
HostDevice host_device_split(const torch::Device& device, double seconds_hint, const std::function<void()>& f) {
  HostDevice r;
  if (!device.is_cuda()) return r;
  const auto a = torch::zeros({16384, 16384}, torch::TensorOptions().device(device).dtype(torch::kHalf));
  auto b = torch::empty_like(a);
  const auto busy = [&](int n) {
    for (int i = 0; i < n; ++i) torch::matmul_out(b, a, a);
  };
  const auto timed = [&](const std::function<void()>& g) {
    synchronize(device);
    const auto t0 = Clock::now();
    g();
    synchronize(device);
    return std::chrono::duration<double>(Clock::now() - t0).count();
  };
  busy(2);
  const double per = timed([&] { busy(5); }) / 5;
  const int n = static_cast<int>(std::ceil((2 * seconds_hint + 0.02) / per));
  const double busy_s = timed([&] { busy(n); });
  synchronize(device);
  const auto t0 = Clock::now();
  busy(n);
  f();
  r.host = std::chrono::duration<double>(Clock::now() - t0).count();
  synchronize(device);
  r.device = std::chrono::duration<double>(Clock::now() - t0).count() - busy_s;
  r.busy = busy_s;
  return r;
}

// A name for a trace file: lower case, with anything but letters and digits as '_'.
std::string slug(const std::string& name) {
  std::string slug;
  for (const char ch : name) {
    const bool keep = std::isalnum(static_cast<unsigned char>(ch)) != 0;
    if (keep) slug += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    else if (!slug.empty() && slug.back() != '_') slug += '_';
  }
  while (!slug.empty() && slug.back() == '_') slug.pop_back();
  return slug;
}

// One call of `f`, timed with the device drained before and after: on a GPU the median of 3 after
// a warm-up (cuDNN autotuning, allocator growth); on the CPU one call. With a profile_prefix, one
// more call under the profiler.
BenchPart time_part(const std::string& name, int per_step, const torch::Device& device, const std::function<void()>& f,
                    const std::string& profile_prefix) {
  BenchPart p{name, 0, per_step, -1, {}, {}, {}};
  const int reps = device.is_cpu() ? 1 : 3;
  // The operators are counted in a call that runs anyway: the GPU's warm-up, or the CPU's one timed
  // call (which then includes the counter's microseconds a call).
  if (reps > 1) p.ops = count_ops(f);
  synchronize(device);
  const int64_t before = bench_memory(device).current;
  reset_bench_peak(device);
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    if (reps == 1) p.ops = count_ops(f);
    else f();
    synchronize(device);
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const auto stats = bench_memory(device);
  if (stats.known() && before >= 0) p.peak_bytes = std::max<int64_t>(0, stats.peak - before);
  p.seconds = median(t);
  p.split = host_device_split(device, p.seconds, f);
  if (!profile_prefix.empty()) p.profile = profile_kernels(device, f, profile_prefix + slug(name) + ".json");
  return p;
}

// Everything one case needs to take a guided DDIM step.
// A bench case's guided steps: the run's GuidedDenoiser, one DDIM step at a time from any x.
struct Stepper {
  const Settings& s;
  LoadedModels& m;
  GuidedDenoiser guided;
  int64_t first = 0;

  Stepper(const Settings& settings, LoadedModels& models, std::vector<dg::ClipGuide> guides, int64_t cuts_per_pass,
          const MemoryEstimate& plan, const dg::CutoutsExecution& cutouts)
      : s(settings), m(models), guided(settings, models, std::move(guides), cuts_per_pass, plan, cutouts),
        first(dd::first_index(guided.schedule(), settings.skip_steps)) {}

  // DDIM step at index i from x, with generators seeded from `seed` (so two calls can be compared).
  // `as_dd`: the sampler evaluates the UNet itself on one stream, as DD does, instead of the run's way.
  dd::StepOutput step(const torch::Tensor& x, int64_t i, at::Generator& cpu, at::Generator& noise, bool as_dd = false) {
    const int64_t cur_t = i;
    const auto denoiser = as_dd ? guided.dd_denoiser(cur_t, cpu, noise) : guided.denoiser(cur_t, cpu, noise);
    torch::NoGradGuard no_grad;
    return dd::ddim_step(guided.schedule(), denoiser, x, i, s.eta, noise);
  }
};

// The noise generator of a case: the CPU generator itself on the CPU (as a run), else the device's own.
at::Generator device_generator(const torch::Device& device, uint64_t seed, at::Generator& cpu) {
  return device.is_cpu() ? cpu : make_device_generator(device, seed);
}

// `profile_prefix`: where each part's trace goes (its name is appended); empty: no profiles.
std::vector<BenchPart> breakdown(Stepper& st, const torch::Tensor& x, int64_t cuts_per_pass,
                                 const std::string& profile_prefix) {
  const auto& s = st.s;
  auto& m = st.m;
  const auto device = m.device;
  std::vector<BenchPart> parts;
  const int64_t i = st.first;
  const auto t = dd::t_model_tensor(st.guided.schedule(), i, x);
  // Through the UNet, the gradient pass's forward serves the sampler too: timed for reference only.
  const bool shared = !s.use_secondary_model;
  parts.push_back(time_part(shared ? "UNet forward alone (the gradient pass's serves the sampler)" : "UNet forward (sampler)",
                            shared ? 0 : 1, device, [&] {
    torch::NoGradGuard no_grad;
    st.guided.network()(x, t);
  }, profile_prefix));
  const auto pred_path = [&] {
    torch::AutoGradMode grad(true);
    const auto xg = x.detach().requires_grad_(true);
    const auto pred = dg::predict_x0(st.guided.cond().models(), xg, i);
    torch::autograd::grad({pred}, {xg}, {torch::ones_like(pred)});
  };
  parts.push_back(time_part(s.use_secondary_model ? "secondary model forward+backward" : "UNet forward+backward (checkpointed)",
                            1, device, pred_path, profile_prefix));

  const auto sched = cut_schedules(s);
  const int64_t k = 1000 - (static_cast<int64_t>(t.reshape({-1})[0].item<float>()) + 1);  // as cond_fn
  const int64_t ncuts = sched.overview.at(k) + sched.innercut.at(k);
  const int64_t total = ncuts * s.cutn_batches;
  const int64_t per_pass = cuts_per_pass > 0 ? std::min(cuts_per_pass, total) : total;
  auto cpu = dg::make_cpu_generator(1);
  auto noise = device_generator(device, 1, cpu);
  const auto& cond_settings = st.guided.cond().settings();
  dg::ResizeWeights resize_weights;
  for (const auto& [first, end] : dg::cutouts_calls(st.guided.cond().models().clip, cond_settings.cutouts_across_models)) {
    const int64_t side = m.clip[first].second->config().image_resolution;
    std::string names = m.clip[first].first;
    for (size_t i = first + 1; i < end; ++i) names += "+" + m.clip[i].first;
    const int64_t blocks = s.cutn_batches * static_cast<int64_t>(end - first);
    const dg::MakeCutoutsDango cutouts({side, sched.overview[k], sched.innercut[k], sched.ic_pow[k], sched.icgray_p[k]},
                                       dg::AugMode::None, s.skip_augs, cond_settings.cutouts_execution, &resize_weights);
    const auto input = x.add(1).div(2).detach().requires_grad_(true);
    parts.push_back(time_part("cutouts for " + names + " (" + std::to_string(blocks) + " x " + std::to_string(ncuts) + ")",
                              1, device, [&] {
                                torch::AutoGradMode grad(true);
                                cutouts.batches(input, cutouts.overview(input), blocks, cpu, noise);
                              }, profile_prefix));
    for (size_t i = first; i < end; ++i) {
      const auto& [name, model] = m.clip[i];
      const auto cuts = torch::rand({per_pass, 3, side, side}, noise, x.options());
      auto mm = model;
      parts.push_back(time_part("CLIP " + name + " forward+backward (" + std::to_string(per_pass) + " cuts)",
                                static_cast<int>((total + per_pass - 1) / per_pass), device, [&] {
                                  torch::AutoGradMode grad(true);
                                  const auto c = cuts.detach().requires_grad_(true);
                                  const auto e = mm->encode_image(c);
                                  torch::autograd::grad({e.sum()}, {c});
                                }, profile_prefix));
    }
  }
  return parts;
}

double rel_diff(const torch::Tensor& a, const torch::Tensor& ref) {
  const auto r = ref.to(torch::kCPU, torch::kDouble), d = a.to(torch::kCPU, torch::kDouble) - r;
  return d.norm().item<double>() / std::max(1e-30, r.norm().item<double>());
}

void set_precision(LoadedModels& m, bool mixed, bool fast) {
  const auto dtype = mixed ? mixed_dtype(m.device) : torch::kFloat;
  m.unet->set_precision(dtype);
  for (auto& c : m.clip) c.second->convert_weights(dtype);
  m.mixed = mixed;
  set_fast(m, fast);
}

std::string gib(int64_t b) { return b < 0 ? std::string("unknown") : format_gib(b); }

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

using LogFn = std::function<void(const std::string&)>;

// What a run would be given for the bench's options.
// The case's memory plan, made as a run makes it (with --shared-cutouts forcing its choice), and
// what the report says of it.
MemoryEstimate plan_case(BenchCase& c, const Settings& s, LoadedModels& m, const BenchOptions& o, const LogFn& log_fn) {
  Callbacks cb;
  cb.on_log = log_fn;
  MemoryEstimate planned;
  c.cuts_per_pass = plan_memory(s, m, o.run, cb, &planned);
  apply_execution(m, execution_for(s, o.run, planned));
  if (o.shared_cutouts != "auto") {
    planned.models_per_cut_call = o.shared_cutouts == "on" ? std::max<int64_t>(1, largest_cut_group(m)) : 1;
    if (log_fn)
      log_fn("note: cutouts for " + std::to_string(planned.models_per_cut_call) +
             " CLIP model(s) per call (--shared-cutouts " + o.shared_cutouts + ")");
  }
  c.estimate_bytes = planned.peak();
  c.estimate = planned.describe();
  c.modelled = estimate_memory(s, m, c.cuts_per_pass).describe();
  c.offload_skips = planned.offload_skips;
  c.overlap_sampler = planned.overlap_sampler;
  return planned;
}

// o.steps guided steps from x, each timed, and the peak over them. Returns the last step's sample.
torch::Tensor time_steps(BenchCase& c, Stepper& st, torch::Tensor x, const BenchOptions& o, at::Generator& cpu,
                         at::Generator& noise, const LogFn& log_fn) {
  const auto device = st.m.device;
  synchronize(device);
  reset_bench_peak(device);
  for (int j = 0; j < o.steps; ++j) {
    const int64_t i = st.first - j;
    DISCO_CHECK(i >= 0, SettingsError, "bench: --steps ", o.steps, " is more than the ", st.first + 1,
                " steps the settings leave.");
    const auto t0 = Clock::now();
    x = st.step(x, i, cpu, noise).sample;
    synchronize(device);
    c.step_seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    if (log_fn) log_fn("  step " + std::to_string(j + 1) + ": " + fmt("%.3f s", c.step_seconds.back()));
  }
  c.peak_bytes = bench_memory(device).peak;
  std::vector<double> timed(c.step_seconds.begin() + (c.step_seconds.size() >= 3 ? 1 : 0), c.step_seconds.end());
  c.median_seconds = median(timed);
  return x;
}

// The levers the plan turned on that should leave the numbers alone, each checked from the same x
// (x0) and draws against the form without it: the skips offloaded to the host, the sampler on a
// second stream, and the gradient pass's UNet forward serving the sampler.
void check_levers(BenchCase& c, Stepper& st, const torch::Tensor& x0, const MemoryEstimate& planned,
                  const std::vector<dg::ClipGuide>& guides, const BenchOptions& o, const dg::CutoutsExecution& cutouts) {
  auto& m = st.m;
  if (c.offload_skips) {  // bit-identical by construction; checked where it runs
    torch::NoGradGuard no_grad;
    const auto t = dd::t_model_tensor(st.guided.schedule(), st.first, x0);
    const auto offloaded = m.unet->forward(x0, t);
    m.unet->set_offload_skips(false);
    c.offload_identical = torch::equal(offloaded, m.unet->forward(x0, t)) ? 1 : 0;
    m.unet->set_offload_skips(true);
  }
  const auto step_from = [&](const std::function<dd::StepOutput(at::Generator&, at::Generator&)>& take) {
    auto c2 = dg::make_cpu_generator(o.seed + 3);
    auto n2 = device_generator(m.device, o.seed + 3, c2);
    return take(c2, n2).sample;
  };
  if (c.overlap_sampler) {  // against the same step on one stream
    MemoryEstimate one_stream_plan = planned;
    one_stream_plan.overlap_sampler = false;
    Stepper one_stream(st.s, m, guides, c.cuts_per_pass, one_stream_plan, cutouts);
    const auto overlapped = step_from([&](at::Generator& a, at::Generator& b) { return st.step(x0, st.first, a, b); });
    const auto plain = step_from([&](at::Generator& a, at::Generator& b) { return one_stream.step(x0, one_stream.first, a, b); });
    c.overlap_max_diff = (overlapped - plain).abs().max().item<double>();
  }
  if (!st.s.use_secondary_model) {  // against the sampler evaluating the UNet itself
    const auto shared = step_from([&](at::Generator& a, at::Generator& b) { return st.step(x0, st.first, a, b); });
    const auto twice = step_from([&](at::Generator& a, at::Generator& b) { return st.step(x0, st.first, a, b, /*as_dd=*/true); });
    c.shared_forward_max_diff = (shared - twice).abs().max().item<double>();
  }
}

// One step from x0 split into host and device time, its operators, the parts one by one, and
// (with o.profile_dir) its kernels.
void step_breakdown(BenchCase& c, Stepper& st, const torch::Tensor& x0, const BenchOptions& o, at::Generator& cpu,
                    at::Generator& noise) {
  const auto device = st.m.device;
  c.step_split = host_device_split(device, c.median_seconds, [&] { st.step(x0, st.first, cpu, noise); });
  const std::string prefix = o.profile_dir.empty() ? "" : o.profile_dir + "/" + slug(c.name) + "-";
  c.step_ops = count_ops([&] { st.step(x0, st.first, cpu, noise); });
  c.parts = breakdown(st, x0, c.cuts_per_pass, prefix);
  if (!prefix.empty())
    c.step_profile = profile_kernels(device, [&] { st.step(x0, st.first, cpu, noise); }, prefix + "step.json");
  double sum = 0;
  for (const auto& p : c.parts) sum += p.seconds * p.per_step;
  c.rest_seconds = c.median_seconds - sum;
}

// The same guided step on the same x, generators and (mixed-rounded) weights, in fp32 and in the
// models' precision (mixed or fast). Its own stepper, without parking: the precision changes under
// it, and parking's host copies are of the models as they were. The models' precision is restored.
PrecisionDiff compare_precision(const BenchCase& c, const Settings& s, LoadedModels& m,
                                const std::vector<dg::ClipGuide>& guides, const torch::Tensor& x0, const BenchOptions& o,
                                const dg::CutoutsExecution& cutouts) {
  const bool models_mixed = m.mixed, models_fast = m.fast;
  Stepper cmp(s, m, guides, c.cuts_per_pass, MemoryEstimate{}, cutouts);
  const auto run_step = [&](bool reduced) {
    set_precision(m, reduced && models_mixed, reduced && models_fast);
    auto c2 = dg::make_cpu_generator(o.seed + 1);
    auto n2 = device_generator(m.device, o.seed + 1, c2);
    const auto t = dd::t_model_tensor(cmp.guided.schedule(), cmp.first, x0);
    const auto grad = cmp.guided.cond()(x0, t, cmp.first, c2, n2);
    auto c3 = dg::make_cpu_generator(o.seed + 2);
    auto n3 = device_generator(m.device, o.seed + 2, c3);
    const auto step = cmp.step(x0, cmp.first, c3, n3);
    return std::vector<torch::Tensor>{grad, step.pred_xstart, step.sample};
  };
  const auto ref = run_step(false);
  const auto reduced = run_step(true);
  set_precision(m, models_mixed, models_fast);
  return {c.name, models_fast ? "fast" : "mixed", rel_diff(reduced[1], ref[1]), rel_diff(reduced[0], ref[0]),
          rel_diff(reduced[2], ref[2])};
}

// One case: plan, N timed steps, the levers' checks, the breakdown and (optionally) the precision
// comparison.
void run_case(BenchCase& c, const Settings& s, LoadedModels& m, const BenchOptions& o, BenchReport& report,
              const LogFn& log_fn) {
  const torch::Device device = m.device;
  apply_execution(m, execution_for(s, o.run));  // the plan (plan_case) then adds its memory levers
  auto cpu = dg::make_cpu_generator(o.seed);
  auto noise = device_generator(device, o.seed, cpu);
  std::vector<dg::ClipGuide> guides;
  {
    torch::NoGradGuard no_grad;
    guides = random_targets(m, noise);
  }
  ParkedTextEncoders parked(m);
  const auto cutouts = cutouts_execution(o.run);
  const MemoryEstimate planned = plan_case(c, s, m, o, log_fn);
  Stepper st(s, m, guides, c.cuts_per_pass, planned, cutouts);
  torch::Tensor x0;
  {
    torch::NoGradGuard no_grad;
    const auto n = torch::randn({1, 3, s.side_y(), s.side_x()}, noise, torch::TensorOptions().device(device));
    x0 = dd::loop_start(st.guided.schedule(), n, {}, s.skip_steps);
  }
  const torch::Tensor x = time_steps(c, st, x0.clone(), o, cpu, noise, log_fn);
  check_levers(c, st, x0, planned, guides, o, cutouts);
  c.finite = torch::isfinite(x).all().item<bool>();
  if (o.breakdown) step_breakdown(c, st, x0, o, cpu, noise);
  if (o.compare_precision) report.precision.push_back(compare_precision(c, s, m, guides, x0, o, cutouts));
}

}  // namespace

void randomize_weights(torch::nn::Module& m, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  for (auto& p : m.parameters())
    if (p.dim() > 1) p.normal_(0, 0.02, gen);
}

BenchReport run_bench(const Settings& settings, const BenchOptions& o,
                      const std::function<void(const std::string&)>& log_fn) {
  const auto log = [&](const std::string& line) {
    if (log_fn) log_fn(line);
  };
  DISCO_CHECK(o.steps >= 1, SettingsError, "bench: --steps must be at least 1, got ", o.steps, ".");
  DISCO_CHECK(o.shared_cutouts == "auto" || o.shared_cutouts == "on" || o.shared_cutouts == "off", SettingsError,
              "bench: shared cutouts must be auto, on or off, got '", o.shared_cutouts, "'.");
  DISCO_CHECK(!o.secondary.empty(), SettingsError, "bench: no case to run.");
  DISCO_CHECK(o.run.augment_blocks == "auto" || o.run.augment_blocks == "together" || o.run.augment_blocks == "one-by-one",
              SettingsError, "bench: augment blocks must be auto, together or one-by-one, got '", o.run.augment_blocks, "'.");
  Settings base = settings;
  base.validate();
  DISCO_CHECK(base.diffusion_model != "custom", SettingsError,
              "bench builds a preset architecture; choose a diffusion_model preset, not custom.");
  const torch::Device device = resolve_device(o.run.device);
  const bool mixed = resolve_mixed(o.run.precision, device);
  if (o.run.cudnn_benchmark) enable_cudnn_benchmark(device);

  BenchReport report;
  report.device = device.is_cuda() ? "CUDA device " + std::to_string(device.index()) : "CPU";
  report.libtorch = libtorch_description();
  report.peak_kind = device.is_cpu() ? "process resident peak (VmHWM)" : "allocated (caching allocator)";
  const auto models = random_models(base, device, mixed, log);
  LoadedModels& m = *models;
  set_fast(m, o.run.precision == "fast");
  {
    std::ostringstream os;
    std::string clips;
    bool folded = false;
    for (const auto& c : m.clip) {
      clips += (clips.empty() ? "" : "+") + c.first;
      folded = folded || (c.second->resnet && c.second->resnet->batchnorm_folded());
    }
    os << base.side_x() << "x" << base.side_y() << " | " << base.diffusion_model << " ("
       << (mixed ? (device.is_cuda() ? "fp16 torso" : "bf16 torso") : "fp32") << ") | CLIP " << clips << " ("
       << (mixed ? (device.is_cuda() ? "fp16" : "bf16") : "fp32") << (folded ? ", BatchNorm folded" : "")
       << ") | secondary model " << (m.fast ? (device.is_cuda() ? "fp16" : "bf16") : "fp32") << " | cutn_batches " << base.cutn_batches << " | "
       << sampling_mode_name(base.diffusion_sampling_mode) << " eta " << base.eta << " | " << base.steps << " steps, skip "
       << base.skip_steps;
    report.setup = os.str();
  }
  log("bench: " + report.setup);

  for (const bool secondary : o.secondary) {
    Settings s = base;
    s.use_secondary_model = secondary;
    BenchCase c;
    c.name = secondary ? "secondary model" : "full UNet gradient";
    log("case: " + c.name);
    try {
      run_case(c, s, m, o, report, log_fn);
    } catch (const Error& e) {
      c.error = e.what();
    } catch (const c10::Error& e) {
      c.error = e.what_without_backtrace();
    }
    if (!c.error.empty()) log("  " + c.name + ": " + c.error);
    report.cases.push_back(std::move(c));
  }
  return report;
}

std::string split_text(const HostDevice& h) {
  if (h.host < 0) return "";
  return "; host " + fmt("%.4f", h.host) + " s, device " + fmt("%.4f", h.device) + " s" +
         (h.host > 0.8 * h.busy ? " (waited for the device)" : "");
}

nlohmann::ordered_json split_json(const HostDevice& h) {
  return {{"host_s", h.host}, {"device_s", h.device}, {"busy_s", h.busy}};
}

std::string ops_text(const OpCount& c) {
  return std::to_string(c.calls) + " operator calls (" + std::to_string(c.top) + " top-level), " +
         std::to_string(c.backward) + " autograd nodes";
}

// The `top` most frequent top-level operators and autograd nodes, several a line.
std::string ops_names_text(const OpCount& c, size_t top, const std::string& indent) {
  std::ostringstream os;
  for (size_t i = 0; i < std::min(top, c.by_name.size()); ++i)
    os << (i % 4 == 0 ? (i ? "\n" : "") + indent : std::string(", ")) << c.by_name[i].first << " " << c.by_name[i].second;
  if (!c.by_name.empty()) os << "\n";
  return os.str();
}

nlohmann::ordered_json ops_json(const OpCount& c) {
  nlohmann::ordered_json j = {{"calls", c.calls}, {"top_level", c.top}, {"autograd_nodes", c.backward}};
  for (size_t i = 0; i < std::min<size_t>(40, c.by_name.size()); ++i) j["by_name"].push_back({c.by_name[i].first, c.by_name[i].second});
  return j;
}

// The `top` longest kernels, one a line; a kernel's name cut at 110 characters. Empty when no
// profile was taken.
std::string profile_text(const KernelProfile& p, size_t top, const std::string& indent) {
  if (!p.error.empty()) return indent + p.error + "\n";
  if (p.kernels.empty()) return "";
  std::ostringstream os;
  if (p.device_seconds > 0) os << indent << "device activity " << fmt("%.4f", p.device_seconds) << " s in all; longest:\n";
  for (size_t i = 0; i < std::min(top, p.kernels.size()); ++i) {
    const auto& k = p.kernels[i];
    os << indent << "  " << fmt("%8.3f", k.seconds * 1e3) << " ms " << fmt("%5.0f", static_cast<double>(k.calls))
       << "x  " << k.name.substr(0, 110) << "\n";
  }
  return os.str();
}

nlohmann::ordered_json profile_json(const KernelProfile& p) {
  nlohmann::ordered_json j;
  j["device_s"] = p.device_seconds;
  j["error"] = p.error;
  for (const auto& k : p.kernels) j["kernels"].push_back({{"name", k.name}, {"calls", k.calls}, {"seconds", k.seconds}});
  return j;
}

std::string BenchReport::text() const {
  std::ostringstream os;
  os << "device: " << device << " | libtorch " << libtorch << " | peak memory: " << peak_kind << "\n"
     << setup << "\n";
  for (const auto& c : cases) {
    if (!c.error.empty()) {
      os << "\n" << c.name << ": not run: " << c.error << "\n";
      continue;
    }
    os << "\n" << c.name << ": " << fmt("%.3f", c.median_seconds) << " s/step (median), peak " << gib(c.peak_bytes)
       << (c.finite ? "" : "  [NOT FINITE]") << "\n  estimate: " << c.estimate << "\n  modelled: " << c.modelled
       << "\n  cuts per CLIP pass: " << (c.cuts_per_pass ? std::to_string(c.cuts_per_pass) : "all");
    if (c.offload_skips)
      os << "\n  sampler UNet: full-resolution skips on the host; output "
         << (c.offload_identical == 1 ? "identical to" : c.offload_identical == 0 ? "DIFFERS from" : "not compared with")
         << " the plain forward's";
    if (c.overlap_sampler)
      os << "\n  sampler UNet beside the guidance (second stream); a step's sample differs from the one-stream "
            "step's by at most "
         << fmt("%.3g", c.overlap_max_diff) << " (expected: 0)";
    if (c.shared_forward_max_diff >= 0)
      os << "\n  the gradient pass's UNet forward serves the sampler; a step's sample differs from the step with "
            "two UNet evaluations by at most "
         << fmt("%.3g", c.shared_forward_max_diff) << " (expected: 0)";
    os << "\n  steps:";
    for (double t : c.step_seconds) os << " " << fmt("%.3f", t);
    os << "\n";
    if (!c.parts.empty()) {
      if (c.step_split.host >= 0)
        os << "  one step, queued behind a busy device" << split_text(c.step_split) << "\n";
      os << "  one step: " << ops_text(c.step_ops) << "; most called:\n" << ops_names_text(c.step_ops, 24, "    ");
      os << "  breakdown (each part timed alone; x calls per step):\n";
      for (const auto& p : c.parts) {
        os << "    " << p.name << ": " << fmt("%.4f", p.seconds) << " s x " << p.per_step << " = "
           << fmt("%.4f", p.seconds * p.per_step) << " s, peak +" << gib(p.peak_bytes) << split_text(p.split) << "\n"
           << "      " << ops_text(p.ops) << "; most called:\n" << ops_names_text(p.ops, 8, "        ");
        os << profile_text(p.profile, 12, "      ");
      }
      os << "    the rest (sampler arithmetic, losses, launches): " << fmt("%.4f", c.rest_seconds) << " s\n";
      if (const auto step = profile_text(c.step_profile, 25, "    "); !step.empty())
        os << "  one step, profiled:\n" << step;
    }
  }
  for (const auto& p : precision)
    os << "\n" << p.precision << " vs fp32, " << p.name << ": pred_xstart " << fmt("%.2e", p.pred_xstart) << ", gradient "
       << fmt("%.2e", p.grad) << ", sample " << fmt("%.2e", p.sample) << " (relative L2)\n";
  return os.str();
}

nlohmann::ordered_json BenchReport::json() const {
  nlohmann::ordered_json j;
  j["device"] = device;
  j["libtorch"] = libtorch;
  j["setup"] = setup;
  j["peak_kind"] = peak_kind;
  for (const auto& c : cases) {
    nlohmann::ordered_json jc;
    jc["name"] = c.name;
    jc["median_s_per_step"] = c.median_seconds;
    jc["step_s"] = c.step_seconds;
    jc["peak_bytes"] = c.peak_bytes;
    jc["estimate_bytes"] = c.estimate_bytes;
    jc["estimate"] = c.estimate;
    jc["modelled"] = c.modelled;
    jc["cuts_per_pass"] = c.cuts_per_pass;
    jc["offload_skips"] = c.offload_skips;
    jc["offload_identical"] = c.offload_identical;
    jc["overlap_sampler"] = c.overlap_sampler;
    jc["overlap_max_diff"] = c.overlap_max_diff;
    jc["shared_forward_max_diff"] = c.shared_forward_max_diff;
    jc["error"] = c.error;
    jc["finite"] = c.finite;
    for (const auto& p : c.parts)
      jc["breakdown"].push_back({{"name", p.name}, {"seconds", p.seconds}, {"per_step", p.per_step},
                                 {"peak_bytes", p.peak_bytes}, {"split", split_json(p.split)},
                                 {"profile", profile_json(p.profile)}, {"ops", ops_json(p.ops)}});
    jc["rest_s"] = c.rest_seconds;
    jc["step_split"] = split_json(c.step_split);
    jc["step_profile"] = profile_json(c.step_profile);
    jc["step_ops"] = ops_json(c.step_ops);
    j["cases"].push_back(jc);
  }
  for (const auto& p : precision)
    j["mixed_vs_fp32"].push_back(
        {{"case", p.name}, {"precision", p.precision}, {"pred_xstart_rel", p.pred_xstart}, {"grad_rel", p.grad}, {"sample_rel", p.sample}});
  return j;
}

}  // namespace disco
