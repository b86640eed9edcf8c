#include "io/pil_resize.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "common/error.h"

namespace disco::io {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's 8-bit coefficient precision
constexpr double kLanczosSupport = 3.0;
constexpr double kBicubicSupport = 2.0;

double sinc(double x) {
  if (x == 0.0) return 1.0;
  x = x * M_PI;
  return std::sin(x) / x;
}

double lanczos(double x) {
  if (-kLanczosSupport <= x && x < kLanczosSupport) return sinc(x) * sinc(x / 3.0);
  return 0.0;
}

// Pillow's bicubic_filter: Keys' cubic convolution with a = -0.5.
double bicubic(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// One of Pillow's resampling kernels and its support at scale 1.
struct PilFilter {
  double (*fn)(double);
  double support;
};
constexpr PilFilter kLanczosFilter{lanczos, kLanczosSupport};
constexpr PilFilter kBicubicFilter{bicubic, kBicubicSupport};

// For every output index: the first input tap and the fixed-point weights of its taps.
struct AxisCoeffs {
  std::vector<int> first;
  std::vector<std::vector<int32_t>> weights;
};

AxisCoeffs precompute(int in_size, int out_size, const PilFilter& filter) {
  double scale = static_cast<double>(in_size) / out_size;
  double filterscale = std::max(scale, 1.0);
  double support = filter.support * filterscale;
  double ss = 1.0 / filterscale;
  AxisCoeffs axis;
  axis.first.resize(out_size);
  axis.weights.resize(out_size);
  std::vector<double> w;
  for (int o = 0; o < out_size; ++o) {
    double center = (o + 0.5) * scale;
    int xmin = std::max(static_cast<int>(center - support + 0.5), 0);  // C truncation, as Pillow
    int xmax = std::min(static_cast<int>(center + support + 0.5), in_size);
    w.assign(std::max(xmax - xmin, 0), 0.0);
    double sum = 0.0;
    for (int j = xmin; j < xmax; ++j) {
      w[j - xmin] = filter.fn((j - center + 0.5) * ss);
      sum += w[j - xmin];
    }
    auto& k = axis.weights[o];
    k.resize(w.size());
    for (size_t t = 0; t < w.size(); ++t) {
      double wt = sum != 0.0 ? w[t] / sum : w[t];
      double fixed = wt * (1 << kPrecisionBits);
      k[t] = static_cast<int32_t>(wt < 0 ? fixed - 0.5 : fixed + 0.5);  // toward zero
    }
    axis.first[o] = xmin;
  }
  return axis;
}

uint8_t clip8(int32_t acc) {
  int32_t v = acc >> kPrecisionBits;  // arithmetic shift, as Pillow's int
  return static_cast<uint8_t>(std::clamp(v, 0, 255));
}

Image8 pass_horizontal(const Image8& in, int out_w, const PilFilter& filter) {
  AxisCoeffs axis = precompute(in.width, out_w, filter);
  Image8 out{out_w, in.height, std::vector<uint8_t>(static_cast<size_t>(out_w) * in.height * 3)};
  for (int y = 0; y < in.height; ++y)
    for (int x = 0; x < out_w; ++x) {
      const auto& k = axis.weights[x];
      for (int c = 0; c < 3; ++c) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (size_t t = 0; t < k.size(); ++t) acc += in.at(y, axis.first[x] + static_cast<int>(t), c) * k[t];
        out.at(y, x, c) = clip8(acc);
      }
    }
  return out;
}

Image8 pass_vertical(const Image8& in, int out_h, const PilFilter& filter) {
  AxisCoeffs axis = precompute(in.height, out_h, filter);
  Image8 out{in.width, out_h, std::vector<uint8_t>(static_cast<size_t>(in.width) * out_h * 3)};
  for (int y = 0; y < out_h; ++y) {
    const auto& k = axis.weights[y];
    for (int x = 0; x < in.width; ++x)
      for (int c = 0; c < 3; ++c) {
        int32_t acc = 1 << (kPrecisionBits - 1);
        for (size_t t = 0; t < k.size(); ++t) acc += in.at(axis.first[y] + static_cast<int>(t), x, c) * k[t];
        out.at(y, x, c) = clip8(acc);
      }
  }
  return out;
}

Image8 resample(const Image8& image, int out_w, int out_h, const PilFilter& filter) {
  DISCO_CHECK(out_w > 0 && out_h > 0, Error, "cannot resize an image to ", out_w, " x ", out_h,
              ": both sides must be positive.");
  DISCO_CHECK(image.width > 0 && image.height > 0 &&
                  image.rgb.size() == static_cast<size_t>(image.width) * image.height * 3,
              Error, "cannot resize an empty or inconsistent image (", image.width, " x ", image.height, ").");
  // Pillow filters an axis only when its size changes; the uint8 intermediate matters for parity.
  Image8 out = image;
  if (out_w != image.width) out = pass_horizontal(out, out_w, filter);
  if (out_h != image.height) out = pass_vertical(out, out_h, filter);
  return out;
}

}  // namespace

Image8 resize_lanczos(const Image8& image, int out_w, int out_h) { return resample(image, out_w, out_h, kLanczosFilter); }

Image8 resize_bicubic(const Image8& image, int out_w, int out_h) { return resample(image, out_w, out_h, kBicubicFilter); }

std::pair<int, int> shorter_edge_size(int width, int height, int s) {
  DISCO_CHECK(width > 0 && height > 0 && s > 0, Error, "cannot resize a ", width, " x ", height,
              " image to a shorter edge of ", s, ".");
  bool portrait = width <= height;
  int short_side = portrait ? width : height;
  int long_side = portrait ? height : width;
  // Python: int(size * long / short), true division of exact integers, then truncation.
  int new_long = static_cast<int>(static_cast<double>(int64_t{s} * long_side) / short_side);
  return portrait ? std::make_pair(s, new_long) : std::make_pair(new_long, s);
}

Image8 resize_image_prompt(const Image8& image, int side_x, int side_y) {
  int s = std::min({side_x, side_y, image.width, image.height});
  auto [w, h] = shorter_edge_size(image.width, image.height, s);
  return resize_lanczos(image, w, h);
}

}  // namespace disco::io
