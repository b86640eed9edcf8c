// torchvision (~0.13, tensor path) RandomHorizontalFlip, RandomAffine, RandomPerspective,
// RandomGrayscale and ColorJitter as DD composes them (dd-spec §5.3, §14). Same draws, same order,
// same float32 grid arithmetic as the reference.
#include "guidance/augmentations.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

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

torch::Tensor add_noise(const torch::Tensor& x, at::Generator& noise) {
  DISCO_CHECK(noise.defined() && noise.device().type() == x.device().type(), SettingsError,
              "cutout augmentations: the noise generator is for ",
              noise.defined() ? noise.device().str() : std::string("no device"), " but the cutouts are on ",
              x.device(), "; pass a generator of the cutouts' device (the CPU one for CPU cutouts).");
  return x + torch::empty_like(x).normal_(0, 1, noise) * 0.01;
}

// torchvision _apply_grid_transform with a fill of zeros: a ones channel tracks coverage.
torch::Tensor grid_transform(const torch::Tensor& x, const torch::Tensor& grid, bool nearest) {
  // x [N, C, H, W], grid [1, H, W, 2]
  auto g = grid.expand({x.size(0), grid.size(1), grid.size(2), grid.size(3)});
  auto dummy = torch::ones({x.size(0), 1, x.size(2), x.size(3)}, x.options());
  auto img = torch::grid_sampler(torch::cat({x, dummy}, 1), g, nearest ? 1 : 0, /*zeros*/ 0,
                                 /*align_corners=*/false);
  const int64_t c = x.size(1);
  auto mask = img.slice(1, c, c + 1).expand({x.size(0), c, x.size(2), x.size(3)});
  img = img.slice(1, 0, c);
  auto fill = torch::zeros({1, c, 1, 1}, x.options()).expand_as(img);
  if (nearest) return torch::where(mask < 0.5, fill, img);
  // QUIRK(dd-spec §5.3): bilinear samples already fade at the border and are multiplied by the
  // coverage mask once more.
  return img * mask + (1.0 - mask) * fill;
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

torch::Tensor blend(const torch::Tensor& img1, const torch::Tensor& img2, double ratio) {
  return (ratio * img1 + (1.0 - ratio) * img2).clamp(0, 1.0);
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
}  // namespace

torch::Tensor apply_affine(const torch::Tensor& x, const AffineParams& p, bool nearest) {
  DISCO_CHECK(x.dim() == 4, SettingsError, "RandomAffine: expected [N, C, H, W], got ", x.sizes(), ".");
  const int64_t h = x.size(2), w = x.size(3);
  const double rot = p.angle * (M_PI / 180.0);
  const double cs = std::cos(rot), sn = std::sin(rot);
  const double tx = static_cast<double>(p.tx), ty = static_cast<double>(p.ty);
  // Inverse (output -> input) matrix about the centre, torchvision _get_inverse_affine_matrix.
  const std::vector<double> m = {cs, sn, 0.0 + (cs * -tx + sn * -ty), -sn, cs, 0.0 + (-sn * -tx + cs * -ty)};
  auto theta = params_like(x, m).reshape({1, 2, 3});
  auto scale = params_like(x, {0.5 * w, 0.5 * h});
  auto grid = base_grid(h, w, -w * 0.5 + 0.5, -h * 0.5 + 0.5, param_options(x)).bmm(theta.transpose(1, 2) / scale);
  return grid_transform(x, grid.view({1, h, w, 2}), nearest);
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
  const int64_t h = x.size(2), w = x.size(3);
  const Corners start = {{{0, 0}, {w - 1, 0}, {w - 1, h - 1}, {0, h - 1}}};
  const auto c = perspective_coeffs(start, end_points);
  auto theta1 = params_like(x, {c[0], c[1], c[2], c[3], c[4], c[5]}).reshape({1, 2, 3});
  auto theta2 = params_like(x, {c[6], c[7], 1.0, c[6], c[7], 1.0}).reshape({1, 2, 3});
  auto scale = params_like(x, {0.5 * w, 0.5 * h});
  auto base = base_grid(h, w, 0.5, 0.5, param_options(x));
  auto grid = base.bmm(theta1.transpose(1, 2) / scale) / base.bmm(theta2.transpose(1, 2)) - 1.0;
  return grid_transform(x, grid.view({1, h, w, 2}), /*nearest=*/false);
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
  // RGB -> HSV (torchvision _rgb2hsv)
  auto rgb = x.unbind(-3);
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
  auto hr = (maxc == r) * (bc - gc);
  auto hg = ((maxc == g) & (maxc != r)) * (2.0 + rc - bc);
  auto hb = ((maxc != g) & (maxc != r)) * (4.0 + gc - rc);
  auto h = torch::fmod(((hr + hg + hb) / 6.0 + 1.0), 1.0);
  auto v = maxc;
  h = torch::remainder(h + hue_factor, 1.0);
  // HSV -> RGB (torchvision _hsv2rgb): pick the sector's (p, q, t, v) arrangement.
  auto i_f = torch::floor(h * 6.0);
  auto f = (h * 6.0) - i_f;
  auto i = torch::remainder(i_f.to(torch::kInt), 6);
  auto p = torch::clamp(v * (1.0 - s), 0.0, 1.0);
  auto q = torch::clamp(v * (1.0 - s * f), 0.0, 1.0);
  auto t = torch::clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  // Sector i takes (r, g, b) = (v,t,p) (q,v,p) (p,v,t) (p,q,v) (t,p,v) (v,p,q). torchvision writes
  // this as a one-hot einsum over all six arrangements; here each channel picks its value from
  // [v, q, p, t] by index. The values and gradients are the same bit for bit (the einsum adds exact
  // zeros, and no sector uses a value twice), but the einsum ran on the GPU as 13 batched
  // matrix-vector products per call, ~30 ms of a DD step with their backward.
  static const std::vector<int64_t> kPick = {0, 3, 2, 1, 0, 2, 2, 0, 3, 2, 1, 0, 3, 2, 0, 0, 2, 1};  // [6][r,g,b]
  const auto table = upload(torch::tensor(kPick, torch::kLong).view({6, 3}), i.options().dtype(torch::kLong));
  const auto pick = table.index({i.to(torch::kLong)}).movedim(-1, -3);  // [..., 3, H, W]
  return torch::stack({v, q, p, t}, -3).gather(-3, pick);
}

torch::Tensor apply_jitter(const torch::Tensor& x, const JitterParams& p) {
  auto img = x;
  for (int64_t op : p.order) {
    if (op == 0 && p.brightness) {
      img = blend(img, torch::zeros_like(img), *p.brightness);
    } else if (op == 1 && p.contrast) {
      auto mean = rgb_to_grayscale(img).mean({-3, -2, -1}, /*keepdim=*/true);
      img = blend(img, mean, *p.contrast);
    } else if (op == 2 && p.saturation) {
      img = blend(img, rgb_to_grayscale(img), *p.saturation);
    } else if (op == 3 && p.hue) {
      img = adjust_hue(img, *p.hue);
    }
  }
  return img;
}

torch::Tensor augment(const torch::Tensor& x, AugMode mode, at::Generator& cpu, at::Generator& noise) {
  DISCO_CHECK(x.dim() == 4 && x.size(1) == 3, SettingsError, "cutout augmentations: expected [N, 3, h, w], got ",
              x.sizes(), ".");
  check_cpu_generator(cpu, "cutout augmentations");
  const int64_t h = x.size(2), w = x.size(3);
  auto y = x;
  if (mode == AugMode::VideoInput) {
    if (coin(0.5, cpu)) y = hflip(y);
    y = add_noise(y, noise);
    y = apply_affine(y, draw_affine(h, w, 15, 0.1, cpu), /*nearest=*/true);
    y = add_noise(y, noise);
    if (coin(0.7, cpu)) y = apply_perspective(y, draw_perspective(h, w, 0.4, cpu));
    y = add_noise(y, noise);
    if (coin(0.15, cpu)) y = grayscale3(y);
    return add_noise(y, noise);
  }
  const bool animation = mode == AugMode::Animation;
  if (coin(animation ? 0.4 : 0.5, cpu)) y = hflip(y);
  y = add_noise(y, noise);
  y = apply_affine(y, draw_affine(h, w, 10, 0.05, cpu), /*nearest=*/false);
  y = add_noise(y, noise);
  if (coin(0.1, cpu)) y = grayscale3(y);
  y = add_noise(y, noise);
  return apply_jitter(y, draw_jitter(0.1, 0.1, 0.1, animation ? 0.3 : 0.1, cpu));
}

}  // namespace disco::guidance
