// DD's cond_fn (dd-spec §5). The operation order and the float32 rounding of every Python scalar
// follow the reference (manifest conventions.python_scalar_semantics), so CPU float32 results
// match it closely.
#include "guidance/cond_fn.h"

#include <cmath>

#include "clip/preprocess.h"
#include "common/error.h"
#include "guidance/cutouts.h"
#include "guidance/losses.h"

namespace disco::guidance {
namespace {

constexpr size_t kScheduleLength = 1000;

// A Python scalar as PyTorch applies it to a float32 tensor: rounded to float32 once.
torch::Tensor f32(double v, const torch::Tensor& like) {
  return torch::scalar_tensor(static_cast<float>(v), like.options().dtype(torch::kFloat).requires_grad(false));
}

// The share of x_in_grad of `guides`, CLIP models of one input resolution: DD's loop over each
// model's cutn batches (cutouts, CLIP, spherical distance, grad / cutn_batches), computed in two
// stages so that CLIP sees many cuts per pass. All the models' cutn batches are cut in one call,
// drawn in DD's order (model after model; the CLIP passes draw nothing). CLIP's gradient is taken
// w.r.t. the cuts, `cuts_per_pass` at a time, and one backward pass through the cutouts carries it
// to x_in. The sum is DD's, up to float rounding.
torch::Tensor clip_guides_grad(const std::vector<const ClipGuide*>& guides, DangoCutSettings cs,
                               const CondFnSettings& s, const torch::Tensor& cut_input, const torch::Tensor& x_in_leaf,
                               at::Generator& cpu, at::Generator& noise, ResizeWeights& weights, bool keep_tensors,
                               CondFnDiagnostics* diag) {
  cs.cut_size = guides.front()->cut_size;
  const MakeCutoutsDango cutouts(cs, s.aug_mode, s.skip_augs, s.cutouts_execution, &weights);
  const int64_t ncuts = cs.overview + cs.inner_crop;
  const int64_t per_model = s.cutn_batches * ncuts;
  const auto clip_in = clip::normalize(cutouts.batches(
      cut_input, cutouts.overview(cut_input), s.cutn_batches * static_cast<int64_t>(guides.size()), cpu,
      noise));  // [models * cutn_batches * ncuts, 3, c, c], graph back to x_in
  const int64_t per_pass = s.cuts_per_pass > 0 ? std::min(s.cuts_per_pass, per_model) : per_model;

  auto cut_grad = torch::empty_like(clip_in);
  for (size_t gi = 0; gi < guides.size(); ++gi) {
    const ClipGuide& guide = *guides[gi];
    const int64_t first = static_cast<int64_t>(gi) * per_model;
    std::vector<torch::Tensor> per_cut_losses, embeds, dists_kept;
    auto model = guide.model;  // holders are const here; the module is not
    for (int64_t lo = 0; lo < per_model; lo += per_pass) {
      const int64_t n = std::min(per_pass, per_model - lo);
      const auto cuts = clip_in.slice(0, first + lo, first + lo + n).detach().requires_grad_(true);
      const auto image_embeds = model->encode_image(cuts).to(torch::kFloat);                            // [n,D]
      const auto dists = spherical_dist_loss(image_embeds.unsqueeze(1), guide.target_embeds.unsqueeze(0));  // [n,T]
      const auto per_cut = dists.mul(guide.weights).sum(1);                                           // [n]
      // DD: losses = (Σ over a batch's cuts) / ncuts; grad(losses.sum() * scale) / cutn_batches.
      const auto loss = per_cut.sum() / f32(static_cast<double>(ncuts), per_cut) * f32(s.clip_guidance_scale, per_cut);
      cut_grad.slice(0, first + lo, first + lo + n).copy_(torch::autograd::grad({loss}, {cuts})[0]);
      if (diag) per_cut_losses.push_back(per_cut.detach());
      if (diag && keep_tensors) {
        embeds.push_back(image_embeds.detach());
        dists_kept.push_back(dists.detach());
      }
    }
    if (diag) {
      const auto batch_losses = torch::cat(per_cut_losses).view({s.cutn_batches, ncuts}).mean(1).cpu();
      for (int64_t b = 0; b < s.cutn_batches; ++b) diag->loss_values.push_back(batch_losses[b].item<float>());
      if (keep_tensors) {
        diag->first_clip_in.push_back(clip_in.slice(0, first, first + ncuts).detach().clone());
        diag->first_image_embeds.push_back(torch::cat(embeds).slice(0, 0, ncuts).clone());
        diag->first_dists.push_back(torch::cat(dists_kept).slice(0, 0, ncuts).unsqueeze(1).clone());  // [cuts,1,T]
      }
    }
  }
  const auto g = torch::autograd::grad({clip_in}, {x_in_leaf}, {cut_grad})[0];
  return g / f32(static_cast<double>(s.cutn_batches), g);
}

// Cut-schedule entry from the passed time (dd-spec §15.3): int(t) + 1, then 1000 - that.
int64_t cut_schedule_index(const torch::Tensor& t_model) {
  DISCO_CHECK(t_model.numel() >= 1, SettingsError, "cond_fn needs the model time t.");
  const int64_t t_int = static_cast<int64_t>(t_model.reshape({-1})[0].item<float>()) + 1;
  const int64_t k = static_cast<int64_t>(kScheduleLength) - t_int;
  DISCO_CHECK(k >= 0 && k < static_cast<int64_t>(kScheduleLength), SettingsError, "cond_fn: the model time ",
              t_int - 1, " is outside [0, 1000), so it selects no cut-schedule entry.");
  return k;
}

// Added into x_in_grad in place, one cutouts call at a time: DD's order of summation, which the
// float32 parity depends on.
void add_clip_grads(torch::Tensor& x_in_grad, const CondFnModels& m, const CondFnSettings& s, int64_t k,
                    const torch::Tensor& x_in_leaf, at::Generator& cpu, at::Generator& noise, ResizeWeights& weights,
                    bool keep_tensors, CondFnDiagnostics* diag) {
  const DangoCutSettings cut_base{0, s.cuts.overview[k], s.cuts.innercut[k], s.cuts.ic_pow[k], s.cuts.icgray_p[k]};
  const auto cut_input = x_in_leaf.add(1).div(2);  // [0,1] for the cutouts
  for (const auto& [first, end] : cutouts_calls(m.clip, s.cutouts_across_models)) {
    std::vector<const ClipGuide*> group;
    for (size_t i = first; i < end; ++i) group.push_back(&m.clip[i]);
    x_in_grad += clip_guides_grad(group, cut_base, s, cut_input, x_in_leaf, cpu, noise, weights, keep_tensors, diag);
  }
}

// The gradient w.r.t. x_in of the tv, range, sat and init losses. `x` only gives the scales'
// float32 tensors their options, as in the reference.
torch::Tensor aux_losses_grad(const CondFnModels& m, const CondFnSettings& s, const torch::Tensor& x,
                              const torch::Tensor& pred, const torch::Tensor& x_in_leaf, CondFnDiagnostics* diag) {
  const auto tv_losses = tv_loss(x_in_leaf);       // [1]
  // QUIRK(dd-spec §15.6): range_loss is taken on x̂0, upstream of x_in, so its gradient w.r.t.
  // x_in is zero and range_scale has no effect; the value is still computed and reported.
  const auto range_losses = range_loss(pred.detach());
  const auto sat_losses = sat_loss(x_in_leaf);     // 0-dim
  auto loss = tv_losses.sum() * f32(s.tv_scale, x) + range_losses.sum() * f32(s.range_scale, x) +
              sat_losses.sum() * f32(s.sat_scale, x);
  if (diag) {
    diag->tv = tv_losses.sum().item<float>();
    diag->range = range_losses.sum().item<float>();
    diag->sat = sat_losses.item<float>();
    diag->aux_loss = loss.item<float>();
  }
  if (m.init.defined() && s.init_scale != 0 && !m.lpips.is_empty()) {
    const auto init_losses = m.lpips.ptr()->forward(x_in_leaf, m.init.to(x_in_leaf.dtype()));  // [1,1,1,1]
    if (diag) diag->init = init_losses.sum().item<float>();
    loss = loss + init_losses.sum() * f32(s.init_scale, x);
  }
  return torch::autograd::grad({loss}, {x_in_leaf})[0];
}

// NaN guard (DD): a NaN anywhere in x_in_grad means no guidance this step and no clamp. It is
// decided on the device, so a step needs no host synchronisation.
torch::Tensor guarded_guidance_grad(const CondFnSettings& s, const torch::Tensor& x, const torch::Tensor& x_in,
                                    const torch::Tensor& x_in_grad, CondFnDiagnostics* diag) {
  const auto has_nan = torch::isnan(x_in_grad).any();
  auto grad = -torch::autograd::grad({x_in}, {x}, {x_in_grad})[0];  // -VJP through x̂0 and the (1-fac)·x term
  const auto magnitude = grad.square().mean().sqrt();
  // QUIRK(dd-spec §15.7): an all-zero gradient gives 0/0 = NaN here, as in DD.
  if (s.clamp_grad) grad = grad * magnitude.clamp_max(static_cast<float>(s.clamp_max)) / magnitude;
  grad = torch::where(has_nan, torch::zeros_like(grad), grad);
  if (diag) {
    diag->nan_guard = has_nan.item<bool>();
    diag->magnitude = diag->nan_guard ? 0.f : magnitude.item<float>();
  }
  return grad;
}

}  // namespace

std::vector<std::pair<size_t, size_t>> cutouts_calls(const std::vector<int64_t>& cut_sizes, bool across_models) {
  std::vector<std::pair<size_t, size_t>> calls;
  for (size_t first = 0; first < cut_sizes.size();) {
    size_t end = first + 1;
    while (across_models && end < cut_sizes.size() && cut_sizes[end] == cut_sizes[first]) ++end;
    calls.emplace_back(first, end);
    first = end;
  }
  return calls;
}

std::vector<std::pair<size_t, size_t>> cutouts_calls(const std::vector<ClipGuide>& guides, bool across_models) {
  std::vector<int64_t> sizes;
  for (const auto& g : guides) sizes.push_back(g.cut_size);
  return cutouts_calls(sizes, across_models);
}

torch::Tensor predict_x0(const CondFnModels& m, const torch::Tensor& x, int64_t cur_t, torch::Tensor* network_out) {
  const auto& schedule = *m.schedule;
  if (m.use_secondary_model) {
    const float cosine_t = schedule.cosine_t(cur_t);  // from float32 α, σ at cur_t
    const auto t = torch::full({x.size(0)}, cosine_t, x.options().requires_grad(false));
    auto secondary = m.secondary;  // holders are const here; the modules are not
    return secondary->forward(x, t).pred;
  }
  const auto out = m.network(x, diffusion::t_model_tensor(schedule, cur_t, x));
  if (network_out) *network_out = out.detach();
  return diffusion::p_mean_variance(schedule, out, x, cur_t, /*clip_denoised=*/false).pred_xstart;
}

CutSchedules CutSchedules::constant(int64_t overview, int64_t innercut, double ic_pow, double icgray_p) {
  CutSchedules s;
  s.overview.assign(kScheduleLength, overview);
  s.innercut.assign(kScheduleLength, innercut);
  s.ic_pow.assign(kScheduleLength, ic_pow);
  s.icgray_p.assign(kScheduleLength, icgray_p);
  return s;
}

CondFn::CondFn(CondFnModels models, CondFnSettings settings)
    : models_(std::move(models)), settings_(std::move(settings)) {
  const auto& m = models_;
  const auto& s = settings_;
  DISCO_CHECK(m.schedule != nullptr, SettingsError, "cond_fn needs the diffusion schedule.");
  if (m.use_secondary_model)
    DISCO_CHECK(!m.secondary.is_empty(), SettingsError,
                "use_secondary_model is on but no secondary model was given; load secondary_model_imagenet_2.pth "
                "or turn use_secondary_model off.");
  else
    DISCO_CHECK(static_cast<bool>(m.network), SettingsError,
                "use_secondary_model is off, so cond_fn needs the diffusion model, but none was given.");
  const auto& c = s.cuts;
  DISCO_CHECK(c.overview.size() == kScheduleLength && c.innercut.size() == kScheduleLength &&
                  c.ic_pow.size() == kScheduleLength && c.icgray_p.size() == kScheduleLength,
              SettingsError, "the cut schedules (cut_overview, cut_innercut, cut_ic_pow, cut_icgray_p) must have ",
              kScheduleLength, " entries each; got ", c.overview.size(), ", ", c.innercut.size(), ", ",
              c.ic_pow.size(), ", ", c.icgray_p.size(), ".");
  DISCO_CHECK(s.cutn_batches >= 1, SettingsError, "cutn_batches must be at least 1, got ", s.cutn_batches, ".");
  DISCO_CHECK(!s.clamp_grad || s.clamp_max > 0, SettingsError, "clamp_max must be positive, got ", s.clamp_max, ".");
  for (size_t i = 0; i < m.clip.size(); ++i) {
    const auto& g = m.clip[i];
    DISCO_CHECK(!g.model.is_empty() && g.cut_size > 0, SettingsError, "CLIP guide ", i,
                " has no model or no input resolution.");
    DISCO_CHECK(g.target_embeds.defined() && g.target_embeds.dim() == 2 && g.weights.defined() &&
                    g.weights.dim() == 1 && g.weights.size(0) == g.target_embeds.size(0) && g.weights.size(0) > 0,
                SettingsError, "CLIP guide ", i, " needs targets [n, D] and n weights; got ",
                (g.target_embeds.defined() ? g.target_embeds.sizes() : at::IntArrayRef{}), " and ",
                (g.weights.defined() ? g.weights.sizes() : at::IntArrayRef{}), ".");
  }
}

torch::Tensor CondFn::operator()(const torch::Tensor& x_arg, const torch::Tensor& t_model, int64_t cur_t,
                                 at::Generator& cpu, at::Generator& noise, CondFnDiagnostics* diag,
                                 torch::Tensor* network_out) const {
  const auto& m = models_;
  const auto& s = settings_;
  const auto& schedule = *m.schedule;
  schedule.check_index(cur_t, "cond_fn (cur_t)");
  DISCO_CHECK(x_arg.dim() == 4 && x_arg.size(0) == 1 && x_arg.size(1) == 3, SettingsError,
              "cond_fn guides one RGB image [1, 3, H, W] at a time (DD's batch_size is 1); got ", x_arg.sizes(), ".");
  const int64_t k = cut_schedule_index(t_model);
  if (diag) {
    *diag = CondFnDiagnostics();
    diag->schedule_index = k;
  }

  torch::AutoGradMode enable_grad(true);  // the samplers call cond_fn under no_grad
  const auto x = x_arg.detach().to(torch::kFloat).requires_grad_(true);
  const auto pred = predict_x0(m, x, cur_t, network_out);  // [1,3,H,W], graph back to x
  if (diag && m.use_secondary_model) diag->cosine_t = schedule.cosine_t(cur_t);
  const double fac = schedule.sqrt_one_minus_alphas_cumprod.at(cur_t);
  // (1 - fac) in float64, each factor rounded to float32 (python_scalar_semantics).
  const auto x_in = pred * f32(fac, x) + x * f32(1.0 - fac, x);
  // The losses are differentiated w.r.t. x_in only; a leaf copy keeps x_in's own graph intact for
  // the final vector-Jacobian product.
  const auto x_in_leaf = x_in.detach().requires_grad_(true);
  auto x_in_grad = torch::zeros_like(x_in_leaf);
  if (diag) diag->fac = fac;

  add_clip_grads(x_in_grad, m, s, k, x_in_leaf, cpu, noise, *resize_weights_, keep_tensors, diag);
  x_in_grad += aux_losses_grad(m, s, x, pred, x_in_leaf, diag);
  const auto grad = guarded_guidance_grad(s, x, x_in, x_in_grad, diag);
  if (diag && keep_tensors) {
    diag->pred = pred.detach().clone();
    diag->x_in = x_in.detach().clone();
    diag->x_in_grad = x_in_grad.detach().clone();
  }
  return grad.detach();
}

diffusion::CondFn CondFn::as_sampler_cond_fn(const int64_t& cur_t, at::Generator& cpu, at::Generator& noise,
                                             CondFnDiagnostics* last) const {
  return [guide = as_sampler_guidance(cur_t, cpu, noise, last).guide](const torch::Tensor& x, const torch::Tensor& t_model,
                                                                        int64_t k) { return guide(x, t_model, k, nullptr); };
}

diffusion::SharingCondFn CondFn::as_sampler_guidance(const int64_t& cur_t, at::Generator& cpu, at::Generator& noise,
                                                     CondFnDiagnostics* last) const {
  diffusion::SharingCondFn f;
  // cond_fn evaluates the network at its counter's time: the sampler's point only when that is k.
  f.evaluates_network = [this, &cur_t](int64_t k) { return !models_.use_secondary_model && cur_t == k; };
  f.guide = [this, &cur_t, &cpu, &noise, last](const torch::Tensor& x, const torch::Tensor& t_model, int64_t k,
                                               torch::Tensor* network_out) {
    // The index the sampler passes is ignored on purpose: DD reads its global counter. Only the
    // cut schedule's entry comes from the passed time, which the samplers make as t_model(k): read
    // on the host, it costs no device synchronisation.
    const auto t_host = t_model.is_cpu() ? t_model : torch::full({1}, models_.schedule->t_model(k));
    return (*this)(x, t_host, cur_t, cpu, noise, last, network_out);
  };
  return f;
}

}  // namespace disco::guidance
