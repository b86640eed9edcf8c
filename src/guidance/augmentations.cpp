// torchvision (~0.13, tensor path) RandomHorizontalFlip, RandomAffine, RandomPerspective,
// RandomGrayscale and ColorJitter as DD composes them (dd-spec §5.3, §14). Same draws, same order,
// same float32 grid arithmetic as the reference.
#include "guidance/augmentations.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "common/device.h"
#include "common/error.h"

namespace disco::guidance {
namespace {

// Draws a CPU uniform the way torch.empty(1).uniform_(lo, hi) does (a float32 value).
double uniform(double lo, double hi, at::Generator& cpu) {
  return torch::empty({1}, torch::kFloat).uniform_(lo, hi, cpu).item<double>();
}

// torch.rand(1) < p, compared in float32 like the reference.
bool coin(double p, at::Generator& cpu) { return (torch::rand({1}, cpu, torch::kFloat) < p).item<bool>(); }

int64_t randint(int64_t lo, int64_t hi, at::Generator& cpu) {
  return torch::randint(lo, hi, {1}, cpu, torch::kLong).item<int64_t>();
}

void check_noise_count(AugMode mode, size_t given) {
  DISCO_CHECK(static_cast<int64_t>(given) == noise_draws(mode), SettingsError, "cutout augmentations: ", given,
              " noise tensors given for the ", noise_draws(mode), " the pipeline adds.");
}

void check_noise_generator(const at::Generator& noise, const torch::Tensor& x) {
  DISCO_CHECK(noise.defined() && noise.device().type() == x.device().type(), SettingsError,
              "cutout augmentations: the noise generator is for ",
              noise.defined() ? noise.device().str() : std::string("no device"), " but the cutouts are on ",
              x.device(), "; pass a generator of the cutouts' device (the CPU one for CPU cutouts).");
}

// torchvision _apply_grid_transform with a fill of zeros, block by block: x [B*n, C, H, W] and one
// grid per block, grid [B, H, W, 2]. A block's cuts are stacked as channels, so one grid_sample
// serves them all; the values are the same as cut by cut. A ones channel tracks coverage.
torch::Tensor grid_transform(const torch::Tensor& x, const torch::Tensor& grid, bool nearest) {
  const int64_t blocks = grid.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  const int64_t ch = x.size(0) / blocks * c;
  auto dummy = torch::ones({blocks, 1, h, w}, x.options());
  auto img = torch::grid_sampler(torch::cat({x.reshape({blocks, ch, h, w}), dummy}, 1), grid, nearest ? 1 : 0,
                                 /*zeros*/ 0, /*align_corners=*/false);
  auto mask = img.slice(1, ch, ch + 1).expand({blocks, ch, h, w});
  img = img.slice(1, 0, ch);
  auto fill = torch::zeros({1, ch, 1, 1}, x.options()).expand_as(img);
  // QUIRK(dd-spec §5.3): bilinear samples already fade at the border and are multiplied by the
  // coverage mask once more.
  auto out = nearest ? torch::where(mask < 0.5, fill, img) : img * mask + (1.0 - mask) * fill;
  return out.reshape(x.sizes());
}

// 1 x oh*ow x 3 base grid of pixel centres, x from x0 and y from y0 in steps of 1 (float32).
torch::Tensor base_grid(int64_t oh, int64_t ow, double x0, double y0, const torch::TensorOptions& opts) {
  auto grid = torch::empty({1, oh, ow, 3}, opts);
  grid.select(3, 0).copy_(torch::linspace(x0, x0 + ow - 1, ow, opts));
  grid.select(3, 1).copy_(torch::linspace(y0, y0 + oh - 1, oh, opts).unsqueeze(-1));
  grid.select(3, 2).fill_(1);
  return grid.view({1, oh * ow, 3});
}

// Solves the 8x8 system of torchvision's _get_perspective_coeffs (double, partial pivoting).
std::array<double, 8> perspective_coeffs(const Corners& start, const Corners& end) {
  double a[8][9] = {};
  for (int i = 0; i < 4; ++i) {
    const double x = end[i][0], y = end[i][1], u = start[i][0], v = start[i][1];
    double r0[9] = {x, y, 1, 0, 0, 0, -u * x, -u * y, u};
    double r1[9] = {0, 0, 0, x, y, 1, -v * x, -v * y, v};
    for (int k = 0; k < 9; ++k) {
      a[2 * i][k] = r0[k];
      a[2 * i + 1][k] = r1[k];
    }
  }
  for (int col = 0; col < 8; ++col) {
    int piv = col;
    for (int r = col + 1; r < 8; ++r)
      if (std::abs(a[r][col]) > std::abs(a[piv][col])) piv = r;
    DISCO_CHECK(std::abs(a[piv][col]) > 1e-12, RuntimeError,
                "RandomPerspective: the drawn corners are degenerate, no homography maps onto them.");
    std::swap(a[col], a[piv]);
    for (int r = 0; r < 8; ++r) {
      if (r == col) continue;
      const double f = a[r][col] / a[col][col];
      for (int k = col; k < 9; ++k) a[r][k] -= f * a[col][k];
    }
  }
  std::array<double, 8> c{};
  for (int i = 0; i < 8; ++i) c[i] = a[i][8] / a[i][i];
  return c;
}

}  // namespace

AugMode aug_mode_from_animation_mode(const std::string& m) {
  if (m == "None") return AugMode::None;
  if (m == "2D" || m == "3D") return AugMode::Animation;
  if (m == "Video Input") return AugMode::VideoInput;
  throw SettingsError(detail::concat("animation_mode '", m,
                                     "' is not known; use 'None', '2D', '3D' or 'Video Input'."));
}

at::Generator make_cpu_generator(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }

void check_cpu_generator(const at::Generator& gen, const char* who) {
  DISCO_CHECK(gen.defined() && gen.device().is_cpu(), SettingsError, who,
              ": crop sizes, offsets and augmentation parameters are drawn from the CPU generator (as in DD), "
              "but a generator for ", gen.defined() ? gen.device().str() : std::string("no device"), " was given.");
}

torch::Tensor rgb_to_grayscale(const torch::Tensor& x) {
  DISCO_CHECK(x.dim() >= 3 && x.size(-3) == 3, SettingsError,
              "grayscale: expected an RGB image [..., 3, H, W], got ", x.sizes(), ".");
  auto ch = x.unbind(-3);
  return (0.2989 * ch[0] + 0.587 * ch[1] + 0.114 * ch[2]).to(x.scalar_type()).unsqueeze(-3);
}

torch::Tensor grayscale3(const torch::Tensor& x) { return rgb_to_grayscale(x).expand(x.sizes()); }

torch::Tensor hflip(const torch::Tensor& x) { return x.flip({-1}); }

AffineParams draw_affine(int64_t height, int64_t width, double degrees, double translate, at::Generator& cpu) {
  AffineParams p;
  p.angle = uniform(-degrees, degrees, cpu);
  const double max_dx = translate * static_cast<double>(width);
  const double max_dy = translate * static_cast<double>(height);
  // Python's round(): half to even, which nearbyint gives in the default rounding mode.
  p.tx = static_cast<int64_t>(std::nearbyint(uniform(-max_dx, max_dx, cpu)));
  p.ty = static_cast<int64_t>(std::nearbyint(uniform(-max_dy, max_dy, cpu)));
  return p;
}

namespace {
// A transform's grids and parameters: x's floating dtype (float for integer images) on x's device.
torch::TensorOptions param_options(const torch::Tensor& x) {
  return x.options().dtype(x.is_floating_point() ? x.scalar_type() : torch::kFloat);
}

// Parameters computed on the host, as such a tensor.
torch::Tensor params_like(const torch::Tensor& x, const std::vector<double>& values) {
  return upload(torch::tensor(values, torch::kDouble), param_options(x));
}

// The inverse (output -> input) matrix about the centre, torchvision _get_inverse_affine_matrix.
std::array<double, 6> inverse_affine(const AffineParams& p) {
  const double rot = p.angle * (M_PI / 180.0);
  const double cs = std::cos(rot), sn = std::sin(rot);
  const double tx = static_cast<double>(p.tx), ty = static_cast<double>(p.ty);
  return {cs, sn, 0.0 + (cs * -tx + sn * -ty), -sn, cs, 0.0 + (-sn * -tx + cs * -ty)};
}

// One grid [B, h, w, 2] per affine of `ps`, for x [.., C, h, w].
torch::Tensor affine_grids(const torch::Tensor& x, const std::vector<AffineParams>& ps) {
  const int64_t h = x.size(2), w = x.size(3), blocks = static_cast<int64_t>(ps.size());
  std::vector<double> m;
  for (const auto& p : ps) {
    const auto row = inverse_affine(p);
    m.insert(m.end(), row.begin(), row.end());
  }
  auto theta = params_like(x, m).reshape({blocks, 2, 3});
  auto scale = params_like(x, {0.5 * w, 0.5 * h});
  auto base = base_grid(h, w, -w * 0.5 + 0.5, -h * 0.5 + 0.5, param_options(x)).expand({blocks, h * w, 3});
  return base.bmm(theta.transpose(1, 2) / scale).view({blocks, h, w, 2});
}

// One grid [B, h, w, 2] per perspective of `ends` (the image corners' end points), for x [.., C, h, w].
torch::Tensor perspective_grids(const torch::Tensor& x, const std::vector<Corners>& ends) {
  const int64_t h = x.size(2), w = x.size(3), blocks = static_cast<int64_t>(ends.size());
  const Corners start = {{{0, 0}, {w - 1, 0}, {w - 1, h - 1}, {0, h - 1}}};
  std::vector<double> m1, m2;
  for (const auto& end : ends) {
    const auto c = perspective_coeffs(start, end);
    m1.insert(m1.end(), {c[0], c[1], c[2], c[3], c[4], c[5]});
    m2.insert(m2.end(), {c[6], c[7], 1.0, c[6], c[7], 1.0});
  }
  auto theta1 = params_like(x, m1).reshape({blocks, 2, 3});
  auto theta2 = params_like(x, m2).reshape({blocks, 2, 3});
  auto scale = params_like(x, {0.5 * w, 0.5 * h});
  auto base = base_grid(h, w, 0.5, 0.5, param_options(x)).expand({blocks, h * w, 3});
  return (base.bmm(theta1.transpose(1, 2) / scale) / base.bmm(theta2.transpose(1, 2)) - 1.0).view({blocks, h, w, 2});
}

// One value per block as a factor for the blocks' rows (n rows each) of x [rows, ...]: a 0-dim host
// tensor for one block (used as a scalar, no copy to the device), else [rows, 1, ...] with
// `trailing` ones. In x's dtype, which is how PyTorch applies a Python float to x.
torch::Tensor per_row(const std::vector<double>& per_block, int64_t n, const torch::Tensor& x, int64_t trailing) {
  if (per_block.size() == 1) return torch::scalar_tensor(per_block[0], torch::TensorOptions().dtype(x.scalar_type()));
  std::vector<double> rows;
  for (double v : per_block) rows.insert(rows.end(), static_cast<size_t>(n), v);
  std::vector<int64_t> shape(static_cast<size_t>(trailing) + 1, 1);
  shape[0] = static_cast<int64_t>(rows.size());
  return upload(torch::tensor(rows, torch::kDouble).view(shape), x.options());
}

// torchvision _blend with per-row ratios r and 1 - r (computed in double, as Python does).
torch::Tensor blend(const torch::Tensor& img1, const torch::Tensor& img2, const torch::Tensor& ratio,
                    const torch::Tensor& one_minus_ratio) {
  return (ratio * img1 + one_minus_ratio * img2).clamp(0, 1.0);
}

// x [B*n, ...] with fn applied to the rows of `blocks` (block b: rows [b*n, (b+1)*n)) as one batch;
// the other rows pass through. With every block, fn(x) itself.
torch::Tensor on_blocks(const torch::Tensor& x, int64_t n, const std::vector<int64_t>& blocks,
                        const std::function<torch::Tensor(const torch::Tensor&)>& fn) {
  if (blocks.empty()) return x;
  if (static_cast<int64_t>(blocks.size()) * n == x.size(0)) return fn(x);
  std::vector<int64_t> rows;
  for (int64_t b : blocks)
    for (int64_t r = b * n; r < (b + 1) * n; ++r) rows.push_back(r);
  const auto idx = upload(torch::tensor(rows, torch::kLong), x.options().dtype(torch::kLong));
  return x.index_copy(0, idx, fn(x.index_select(0, idx)));
}

// The blocks whose draws satisfy `pred`.
std::vector<int64_t> blocks_where(const std::vector<AugDraws>& draws, const std::function<bool(const AugDraws&)>& pred) {
  std::vector<int64_t> out;
  for (size_t b = 0; b < draws.size(); ++b)
    if (pred(draws[b])) out.push_back(static_cast<int64_t>(b));
  return out;
}

// ColorJitter op `op` on blocks' rows x [m*n, 3, h, w], with factors[k] for the k-th block.
torch::Tensor jitter_op(const torch::Tensor& x, int64_t op, const std::vector<double>& factors, int64_t n) {
  if (op == 3) return adjust_hue(x, per_row(factors, n, x, 2));
  std::vector<double> complements;
  for (double f : factors) complements.push_back(1.0 - f);
  const auto ratio = per_row(factors, n, x, 3);
  if (op == 0) return (ratio * x).clamp(0, 1.0);  // _blend(img, zeros, r): (1 - r) * 0 adds nothing
  const auto one_minus = per_row(complements, n, x, 3);
  if (op == 1) return blend(x, rgb_to_grayscale(x).mean({-3, -2, -1}, /*keepdim=*/true), ratio, one_minus);
  return blend(x, rgb_to_grayscale(x), ratio, one_minus);
}

std::optional<double> jitter_factor(const JitterParams& p, int64_t op) {
  switch (op) {
    case 0: return p.brightness;
    case 1: return p.contrast;
    case 2: return p.saturation;
    default: return p.hue;
  }
}

// Each block's ColorJitter, position by position of its own op order: at each position, each op
// runs once on all the blocks that take it there.
torch::Tensor jitter_blocks(const torch::Tensor& x, const std::vector<AugDraws>& draws, int64_t n) {
  auto img = x;
  for (int64_t pos = 0; pos < 4; ++pos) {
    for (int64_t op = 0; op < 4; ++op) {
      std::vector<int64_t> blocks;
      std::vector<double> factors;
      for (size_t b = 0; b < draws.size(); ++b) {
        const auto& j = draws[b].jitter;
        const auto f = jitter_factor(j, op);
        if (j.order[static_cast<size_t>(pos)] != op || !f) continue;
        blocks.push_back(static_cast<int64_t>(b));
        factors.push_back(*f);
      }
      img = on_blocks(img, n, blocks, [&](const torch::Tensor& t) { return jitter_op(t, op, factors, n); });
    }
  }
  return img;
}

// apply_augment block by block (block b: rows [b*n, (b+1)*n)). One split rather than a slice per
// block: its backward pass assembles x's gradient once, where each slice's would be a zero-filled
// tensor of x's size.
torch::Tensor one_by_one(const torch::Tensor& x, const std::vector<AugDraws>& draws, const std::vector<torch::Tensor>& noise) {
  const int64_t n = x.size(0) / static_cast<int64_t>(draws.size());
  const auto blocks = x.split(n);
  std::vector<torch::Tensor> out;
  for (size_t b = 0; b < draws.size(); ++b) {
    const int64_t lo = static_cast<int64_t>(b) * n;
    std::vector<torch::Tensor> rows;
    for (const auto& t : noise) rows.push_back(t.slice(0, lo, lo + n));
    out.push_back(apply_augment(blocks[b], {draws[b]}, std::move(rows)));
  }
  return torch::cat(out);
}
}  // namespace

torch::Tensor apply_affine(const torch::Tensor& x, const AffineParams& p, bool nearest) {
  DISCO_CHECK(x.dim() == 4, SettingsError, "RandomAffine: expected [N, C, H, W], got ", x.sizes(), ".");
  return grid_transform(x, affine_grids(x, {p}), nearest);
}

Corners draw_perspective(int64_t height, int64_t width, double d, at::Generator& cpu) {
  const int64_t hw = width / 2, hh = height / 2;
  const auto dx = static_cast<int64_t>(d * hw), dy = static_cast<int64_t>(d * hh);
  Corners c;
  c[0] = {randint(0, dx + 1, cpu), randint(0, dy + 1, cpu)};
  c[1] = {randint(width - dx - 1, width, cpu), randint(0, dy + 1, cpu)};
  c[2] = {randint(width - dx - 1, width, cpu), randint(height - dy - 1, height, cpu)};
  c[3] = {randint(0, dx + 1, cpu), randint(height - dy - 1, height, cpu)};
  return c;
}

torch::Tensor apply_perspective(const torch::Tensor& x, const Corners& end_points) {
  DISCO_CHECK(x.dim() == 4, SettingsError, "RandomPerspective: expected [N, C, H, W], got ", x.sizes(), ".");
  return grid_transform(x, perspective_grids(x, {end_points}), /*nearest=*/false);
}

JitterParams draw_jitter(double brightness, double contrast, double saturation, double hue, at::Generator& cpu) {
  JitterParams p;
  auto perm = torch::randperm(4, cpu, torch::kLong);
  for (int i = 0; i < 4; ++i) p.order[i] = perm[i].item<int64_t>();
  // A zero strength means torchvision's None: no draw, op skipped.
  auto factor = [&](double v) -> std::optional<double> {
    if (v == 0) return std::nullopt;
    return uniform(std::max(0.0, 1.0 - v), 1.0 + v, cpu);
  };
  p.brightness = factor(brightness);
  p.contrast = factor(contrast);
  p.saturation = factor(saturation);
  if (hue != 0) p.hue = uniform(-hue, hue, cpu);
  return p;
}

torch::Tensor adjust_hue(const torch::Tensor& x, double hue_factor) {
  return adjust_hue(x, torch::scalar_tensor(hue_factor, torch::TensorOptions().dtype(x.scalar_type())));
}

namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Sector i of the hue takes (r, g, b) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q): as indices
// into [v, q, p, t], a [6, 3] table on `device`. Kept for the process, one per device, so that a
// call (forward and backward, on autograd's threads too) copies nothing to the device: a constant,
// made once under the lock and never written again, so every run on any thread may share it.
torch::Tensor sector_table(const torch::Device& device) {
  static std::mutex mutex;
  static std::map<std::string, torch::Tensor> tables;
  std::lock_guard<std::mutex> lock(mutex);
  auto& t = tables[device.str()];
  if (!t.defined()) {
    static const std::vector<int64_t> kPick = {0, 3, 2, 1, 0, 2, 2, 0, 3, 2, 1, 0, 3, 2, 0, 0, 2, 1};
    t = torch::tensor(kPick, torch::kLong).view({6, 3}).to(device);
  }
  return t;
}

// [..., 3, H, W] channel indices into [v, q, p, t] for the sectors i [..., H, W].
torch::Tensor sector_pick(const torch::Tensor& i) { return sector_table(i.device()).index({i.to(torch::kLong)}).movedim(-1, -3); }

// vqpt [..., 4, H, W] gathered by sector: gather's values and gradient (a scatter-add into zeros,
// as aten's), but the graph keeps the sectors as bytes rather than gather's int64 index of three
// channels: 1 byte a pixel instead of 24, a third of the cutouts' graph for 64 cuts of 224².
struct PickBySector : public torch::autograd::Function<PickBySector> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& vqpt, const torch::Tensor& sector) {
    const auto i = sector.to(torch::kUInt8);
    ctx->save_for_backward({i});
    ctx->saved_data["sizes"] = vqpt.sizes().vec();
    return vqpt.gather(-3, sector_pick(i));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto i = ctx->get_saved_variables()[0];
    const auto sizes = ctx->saved_data["sizes"].toIntVector();
    const auto& g = grad_out[0];
    return {torch::zeros(sizes, g.options()).scatter_add_(-3, sector_pick(i), g), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& hue_factor) {
  // RGB -> HSV (torchvision _rgb2hsv), in fewer operators with the same values and gradients bit for
  // bit. (amax and a broadcast (max - x) / divisor would save more but move the gradient: amax
  // splits it between tied channels, and a broadcast sums the channels' shares in another order.)
  const auto rgb = x.unbind(-3);
  const auto &r = rgb[0], &g = rgb[1], &b = rgb[2];
  auto maxc = std::get<0>(x.max(-3));
  auto minc = std::get<0>(x.min(-3));
  auto eqc = maxc == minc;
  auto cr = maxc - minc;
  auto ones = torch::ones_like(maxc);
  auto s = cr / torch::where(eqc, ones, maxc);
  auto cr_divisor = torch::where(eqc, ones, cr);
  auto rc = (maxc - r) / cr_divisor;
  auto gc = (maxc - g) / cr_divisor;
  auto bc = (maxc - b) / cr_divisor;
  // torchvision sums [max = r]·(bc - gc) + [max = g, max != r]·(2 + rc - bc) + [max != g, max != r]·(4 +
  // gc - rc): one term is selected, the others add exact zeros, so picking the term is the same.
  auto hsum = torch::where(maxc == r, bc - gc, torch::where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc));
  auto h = torch::fmod(hsum / 6.0 + 1.0, 1.0);
  auto v = maxc;
  h = torch::remainder(h + hue_factor, 1.0);
  // HSV -> RGB (torchvision _hsv2rgb): pick the sector's (p, q, t, v) arrangement.
  auto h6 = h * 6.0;
  auto i_f = torch::floor(h6);
  auto f = h6 - i_f;
  auto i = torch::remainder(i_f.to(torch::kLong), 6);
  auto p = torch::clamp(v * (1.0 - s), 0.0, 1.0);
  auto q = torch::clamp(v * (1.0 - s * f), 0.0, 1.0);
  auto t = torch::clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  // torchvision writes the pick as a one-hot einsum over all six arrangements; here each channel
  // takes its value from [v, q, p, t] by index. The values and gradients are the same bit for bit
  // (the einsum adds exact zeros, and no sector uses a value twice), but the einsum ran on the GPU
  // as 13 batched matrix-vector products per call, ~30 ms of a DD step with their backward.
  return PickBySector::apply(torch::stack({v, q, p, t}, -3), i);
}

torch::Tensor apply_jitter(const torch::Tensor& x, const JitterParams& p) {
  AugDraws d;
  d.jitter = p;
  return jitter_blocks(x, {d}, x.size(0));
}

int64_t noise_draws(AugMode mode) { return mode == AugMode::VideoInput ? 4 : 3; }

AugDraws draw_augment(AugMode mode, const std::vector<torch::Tensor>& noise, at::Generator& cpu,
                      at::Generator& noise_gen) {
  check_cpu_generator(cpu, "cutout augmentations");
  check_noise_count(mode, noise.size());
  for (const auto& t : noise) {
    DISCO_CHECK(t.dim() == 4 && t.size(1) == 3 && t.sizes() == noise[0].sizes(), SettingsError,
                "cutout augmentations: the noise tensors must be [N, 3, h, w] alike, got ", t.sizes(), ".");
    check_noise_generator(noise_gen, t);
  }
  const int64_t h = noise[0].size(2), w = noise[0].size(3);
  size_t next = 0;
  const auto draw_noise = [&] { noise[next++].normal_(0, 1, noise_gen); };
  AugDraws d;
  d.mode = mode;
  if (mode == AugMode::VideoInput) {
    d.flip = coin(0.5, cpu);
    draw_noise();
    d.affine = draw_affine(h, w, 15, 0.1, cpu);
    draw_noise();
    d.perspective = coin(0.7, cpu);
    if (d.perspective) d.corners = draw_perspective(h, w, 0.4, cpu);
    draw_noise();
    d.gray = coin(0.15, cpu);
    draw_noise();
    return d;
  }
  const bool animation = mode == AugMode::Animation;
  d.flip = coin(animation ? 0.4 : 0.5, cpu);
  draw_noise();
  d.affine = draw_affine(h, w, 10, 0.05, cpu);
  draw_noise();
  d.gray = coin(0.1, cpu);
  draw_noise();
  d.jitter = draw_jitter(0.1, 0.1, 0.1, animation ? 0.3 : 0.1, cpu);
  return d;
}

torch::Tensor apply_augment(const torch::Tensor& x, const std::vector<AugDraws>& draws, std::vector<torch::Tensor> noise,
                            BlockBatching how) {
  DISCO_CHECK(x.dim() == 4 && x.size(1) == 3, SettingsError, "cutout augmentations: expected [N, 3, h, w], got ",
              x.sizes(), ".");
  DISCO_CHECK(!draws.empty() && x.size(0) % static_cast<int64_t>(draws.size()) == 0, SettingsError,
              "cutout augmentations: ", x.size(0), " cuts do not split into ", draws.size(), " equal blocks.");
  const AugMode mode = draws[0].mode;
  for (const auto& d : draws)
    DISCO_CHECK(d.mode == mode, SettingsError, "cutout augmentations: the blocks' draws are of different pipelines.");
  check_noise_count(mode, noise.size());
  for (const auto& t : noise)
    DISCO_CHECK(t.sizes() == x.sizes(), SettingsError, "cutout augmentations: noise ", t.sizes(),
                " does not match the cuts ", x.sizes(), ".");
  if (draws.size() > 1 && (how == BlockBatching::OneByOne || (how == BlockBatching::Auto && !x.is_cuda())))
    return one_by_one(x, draws, noise);
  const int64_t n = x.size(0) / static_cast<int64_t>(draws.size());
  size_t next = 0;
  const auto add_noise = [&](const torch::Tensor& y) {
    auto out = y + noise[next] * 0.01;
    noise[next++] = torch::Tensor();  // its memory is free once the sum is queued
    return out;
  };
  std::vector<AffineParams> affines;
  for (const auto& d : draws) affines.push_back(d.affine);
  const auto flipped = blocks_where(draws, [](const AugDraws& d) { return d.flip; });
  const auto grayed = blocks_where(draws, [](const AugDraws& d) { return d.gray; });

  auto y = on_blocks(x, n, flipped, hflip);
  y = add_noise(y);
  y = grid_transform(y, affine_grids(y, affines), /*nearest=*/mode == AugMode::VideoInput);
  y = add_noise(y);
  if (mode == AugMode::VideoInput) {
    const auto warped = blocks_where(draws, [](const AugDraws& d) { return d.perspective; });
    std::vector<Corners> corners;
    for (int64_t b : warped) corners.push_back(draws[static_cast<size_t>(b)].corners);
    y = on_blocks(y, n, warped, [&](const torch::Tensor& t) {
      return grid_transform(t, perspective_grids(t, corners), /*nearest=*/false);
    });
    y = add_noise(y);
    y = on_blocks(y, n, grayed, grayscale3);
    return add_noise(y);
  }
  y = on_blocks(y, n, grayed, grayscale3);
  y = add_noise(y);
  return jitter_blocks(y, draws, n);
}

torch::Tensor augment(const torch::Tensor& x, AugMode mode, at::Generator& cpu, at::Generator& noise) {
  DISCO_CHECK(x.dim() == 4 && x.size(1) == 3, SettingsError, "cutout augmentations: expected [N, 3, h, w], got ",
              x.sizes(), ".");
  std::vector<torch::Tensor> noises;  // draw_augment checks both generators
  for (int64_t j = 0; j < noise_draws(mode); ++j) noises.push_back(torch::empty_like(x));
  const auto d = draw_augment(mode, noises, cpu, noise);
  return apply_augment(x, {d}, std::move(noises));
}

}  // namespace disco::guidance
