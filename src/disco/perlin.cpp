#include "disco/perlin.h"

#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "common/error.h"

namespace disco {

namespace {

// interp(t) = 3*t**2 - 2*t**3 (torch pow with a scalar exponent).
at::Tensor fade(const at::Tensor& t) { return 3 * t.pow(2) - 2 * t.pow(3); }

// [1.5**-i * 0.5 for i in range(n)], in Python float order.
std::vector<double> amplitudes(int n) {
  std::vector<double> a;
  for (int i = 0; i < n; ++i) a.push_back(std::pow(1.5, -i) * 0.5);
  return a;
}

}  // namespace

PerlinMode perlin_mode_from_string(const std::string& mode) {
  if (mode == "mixed") return PerlinMode::Mixed;
  if (mode == "color") return PerlinMode::Color;
  if (mode == "gray") return PerlinMode::Gray;
  throw SettingsError("perlin_mode '" + mode + "' is not known; use 'mixed', 'color' or 'gray'.");
}

namespace {

// The reference's dots as whole-tensor operations: [w, h, scale, scale] before the permute.
at::Tensor dots_tensor_ops(const at::Tensor& gx, const at::Tensor& gy, const at::Tensor& xs, const at::Tensor& ys,
                           const at::Tensor& wx, const at::Tensor& wy) {
  using torch::indexing::None;
  using torch::indexing::Slice;
  auto g00 = [](const at::Tensor& t) { return t.index({Slice(None, -1), Slice(None, -1)}); };
  auto g10 = [](const at::Tensor& t) { return t.index({Slice(1, None), Slice(None, -1)}); };
  auto g01 = [](const at::Tensor& t) { return t.index({Slice(None, -1), Slice(1, None)}); };
  auto g11 = [](const at::Tensor& t) { return t.index({Slice(1, None), Slice(1, None)}); };
  auto dots = wx * wy * (g00(gx) * xs + g00(gy) * ys);
  dots += (1 - wx) * wy * (-g10(gx) * (1 - xs) + g10(gy) * ys);
  dots += wx * (1 - wy) * (g01(gx) * xs - g01(gy) * (1 - ys));
  dots += (1 - wx) * (1 - wy) * (-g11(gx) * (1 - xs) - g11(gy) * (1 - ys));
  return dots;
}

// Where the fused loop puts each dot d: the tile itself, or perlin_ms's octave sum (the first
// octave starts it at 0.5: acc = d*amp + 0.5, the later ones acc = acc + d*amp; the same float32
// rounding as the reference's `out += p * oct`).
struct DotsSink {
  enum { Tile, FirstOctave, NextOctave } mode = Tile;
  float amp = 1;
};

// The same float32 operations, element by element in the same order (so bit-identical: each
// ATen elementwise op rounds once, and x86-64's baseline has no fused multiply-add to contract
// them), written straight into the permuted [w*scale, h*scale] layout `out`. DD's first Perlin
// image is 12 octaves of 4096x4096 whatever the image size; as tensor ops each term is a 64 MiB
// temporary, which made a CPU Perlin init take minutes.
void dots_fused_cpu(const at::Tensor& gx_t, const at::Tensor& gy_t, const at::Tensor& xs_t, const at::Tensor& ys_t,
                    const at::Tensor& wx_t, const at::Tensor& wy_t, at::Tensor& out, DotsSink sink) {
  const int64_t w = gx_t.size(0) - 1, h = gx_t.size(1) - 1, scale = xs_t.numel();
  const auto gx = gx_t.contiguous().view({w + 1, h + 1}), gy = gy_t.contiguous().view({w + 1, h + 1});
  const auto xs = xs_t.contiguous().view(-1), ys = ys_t.contiguous().view(-1);
  const auto wx = wx_t.contiguous().view(-1), wy = wy_t.contiguous().view(-1);
  const float *GX = gx.data_ptr<float>(), *GY = gy.data_ptr<float>(), *X = xs.data_ptr<float>(),
              *Y = ys.data_ptr<float>(), *WX = wx.data_ptr<float>(), *WY = wy.data_ptr<float>();
  TORCH_CHECK(out.is_contiguous() && out.size(0) == w * scale && out.size(1) == h * scale);
  float* O = out.data_ptr<float>();
  at::parallel_for(0, w * scale, 1, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t i = row / scale, a = row % scale;
      const float x = X[a], wxa = WX[a], omx = 1.0f - x, owx = 1.0f - wxa;
      for (int64_t j = 0; j < h; ++j) {
        const float gx00 = GX[i * (h + 1) + j], gy00 = GY[i * (h + 1) + j];
        const float gx10 = GX[(i + 1) * (h + 1) + j], gy10 = GY[(i + 1) * (h + 1) + j];
        const float gx01 = GX[i * (h + 1) + j + 1], gy01 = GY[i * (h + 1) + j + 1];
        const float gx11 = GX[(i + 1) * (h + 1) + j + 1], gy11 = GY[(i + 1) * (h + 1) + j + 1];
        const float p00 = gx00 * x, p10 = -gx10 * omx, p01 = gx01 * x, p11 = -gx11 * omx;
        float* o = O + row * h * scale + j * scale;
        for (int64_t b = 0; b < scale; ++b) {
          const float y = Y[b], wyb = WY[b], omy = 1.0f - y, owy = 1.0f - wyb;
          float d = (wxa * wyb) * (p00 + gy00 * y);
          d = d + (owx * wyb) * (p10 + gy10 * y);
          d = d + (wxa * owy) * (p01 - gy01 * omy);
          d = d + (owx * owy) * (p11 - gy11 * omy);
          if (sink.mode == DotsSink::Tile) o[b] = d;
          else if (sink.mode == DotsSink::FirstOctave) o[b] = d * sink.amp + 0.5f;
          else o[b] = o[b] + d * sink.amp;
        }
      }
    }
  });
}

// perlin()'s draws and 1-D factors; the dots are left to the caller.
struct Tile {
  at::Tensor gx, gy, xs, ys, wx, wy;
};
Tile draw_tile(int64_t w, int64_t h, int64_t scale, at::Generator& generator, c10::Device device) {
  auto opts = torch::TensorOptions().dtype(torch::kFloat).device(device);
  auto g = torch::randn({2, w + 1, h + 1, 1, 1}, generator, opts);  // one draw for both
  auto lin = torch::linspace(0, 1, scale + 1, torch::kFloat).to(device);
  Tile t{g[0], g[1], lin.slice(0, 0, scale).unsqueeze(1), lin.slice(0, 0, scale).unsqueeze(0), {}, {}};
  t.wx = 1 - fade(t.xs);  // xs [scale, 1], ys [1, scale], gx and gy [w+1, h+1, 1, 1]
  t.wy = 1 - fade(t.ys);
  return t;
}

}  // namespace

at::Tensor perlin(int64_t w, int64_t h, int64_t scale, at::Generator& generator, c10::Device device,
                  bool fused_on_cpu) {
  const Tile t = draw_tile(w, h, scale, generator, device);
  if (fused_on_cpu && device.is_cpu()) {
    auto out = torch::empty({w * scale, h * scale}, torch::kFloat);
    dots_fused_cpu(t.gx, t.gy, t.xs, t.ys, t.wx, t.wy, out, {});
    return out;
  }
  // [w, h, scale, scale]; the reference's operation order, for bit-identical float32.
  return dots_tensor_ops(t.gx, t.gy, t.xs, t.ys, t.wx, t.wy).permute({0, 2, 1, 3}).contiguous().view({w * scale, h * scale});
}

at::Tensor perlin_ms(const std::vector<double>& octaves, int64_t w, int64_t h, bool grayscale,
                     at::Generator& generator, c10::Device device) {
  std::vector<at::Tensor> channels;
  for (int c = 0; c < (grayscale ? 1 : 3); ++c) {
    int64_t scale = int64_t{1} << octaves.size();
    int64_t ow = w, oh = h;
    at::Tensor acc;
    for (double a : octaves) {
      if (device.is_cpu()) {  // the octave summed in place, without the tile's temporaries
        const Tile t = draw_tile(ow, oh, scale, generator, device);
        const bool first = !acc.defined();
        if (first) acc = torch::empty({ow * scale, oh * scale}, torch::kFloat);
        DotsSink sink{first ? DotsSink::FirstOctave : DotsSink::NextOctave, static_cast<float>(a)};
        dots_fused_cpu(t.gx, t.gy, t.xs, t.ys, t.wx, t.wy, acc, sink);
      } else {
        auto p = perlin(ow, oh, scale, generator, device);
        // Python: out = 0.5 (a float), then out += p * a.
        acc = acc.defined() ? acc.add_(p * a) : (p * a).add(0.5);
      }
      scale /= 2;
      ow *= 2;
      oh *= 2;
    }
    channels.push_back(acc);
  }
  return torch::cat(channels);
}

io::Image8 autocontrast(const io::Image8& image) {
  io::Image8 out = image;
  for (int c = 0; c < 3; ++c) {
    int lo = 255, hi = 0;
    for (size_t k = c; k < image.rgb.size(); k += 3) {
      lo = std::min<int>(lo, image.rgb[k]);
      hi = std::max<int>(hi, image.rgb[k]);
    }
    if (hi <= lo) continue;  // identity
    double scale = 255.0 / (hi - lo);
    double offset = -lo * scale;
    uint8_t lut[256];
    for (int v = 0; v < 256; ++v) {
      double y = v * scale + offset;
      int iy = static_cast<int>(y);  // Python int(): toward zero
      lut[v] = static_cast<uint8_t>(std::clamp(iy, 0, 255));
    }
    for (size_t k = c; k < out.rgb.size(); k += 3) out.rgb[k] = lut[out.rgb[k]];
  }
  return out;
}

io::Image8 create_perlin_noise(const std::vector<double>& octaves, int64_t w, int64_t h, bool grayscale,
                               int side_x, int side_y, at::Generator& generator, c10::Device device) {
  auto out = perlin_ms(octaves, w, h, grayscale, generator, device);  // [C*S, S]
  int64_t s = out.size(1);
  // TF.resize on a tensor (torchvision 0.14): bilinear, align_corners=False, no antialiasing.
  auto x = grayscale ? out.view({1, 1, s, s}) : out.reshape({-1, 3, s, s});
  x = at::upsample_bilinear2d(x, {side_y, side_x}, false);  // [1, C, side_y, side_x]
  // TF.to_pil_image(x.clamp(0, 1)): uint8(x * 255), truncating.
  auto bytes = x.clamp(0, 1).squeeze(0).mul(255).to(torch::kCPU).to(torch::kUInt8);  // [C, H, W]
  if (grayscale) bytes = bytes.expand({3, side_y, side_x});  // "L" -> convert("RGB")
  return autocontrast(io::from_u8_tensor(bytes.permute({1, 2, 0})));
}

PerlinInit regen_perlin(PerlinMode mode, int side_x, int side_y, int64_t batch_size, at::Generator& generator,
                        c10::Device device) {
  DISCO_CHECK(side_x > 0 && side_y > 0 && batch_size > 0, SettingsError, "Perlin init needs a positive size and ",
              "batch size, got ", side_x, " x ", side_y, " and batch ", batch_size, ".");
  bool gray1 = mode == PerlinMode::Gray;
  bool gray2 = mode != PerlinMode::Color;
  PerlinInit r;
  r.init1 = create_perlin_noise(amplitudes(12), 1, 1, gray1, side_x, side_y, generator, device);
  r.init2 = create_perlin_noise(amplitudes(8), 4, 4, gray2, side_x, side_y, generator, device);
  auto init = io::to_tensor_01(r.init1).add(io::to_tensor_01(r.init2)).div(2).to(device).mul(2).sub(1);
  r.init = init.expand({batch_size, -1, -1, -1});  // [batch, 3, side_y, side_x]
  return r;
}

}  // namespace disco
