// OpenCV's warpPerspective for 8-bit images with bilinear interpolation and BORDER_WRAP, as DD's
// 2D mode calls it. What decides the bytes: each destination pixel's source position is computed
// in double, per block of rows as OpenCV blocks them, scaled by 32 and rounded to the nearest
// integer (ties to even); the integer part picks the 2x2 source pixels (wrapped around the
// edges), the 5+5 fraction bits pick integer weights that sum to 32768, and the result is
// (sum + 16384) >> 15.
#include "animation/warp_2d.h"

#include <algorithm>
#include <climits>
#include <cmath>

#include "common/error.h"

namespace disco::animation {
namespace {

constexpr int kTabBits = 5;                 // INTER_BITS
constexpr int kTabSize = 1 << kTabBits;     // 32 sub-pixel positions per axis
constexpr int kCoefBits = 15;               // INTER_REMAP_COEF_BITS

// OpenCV's BORDER_WRAP for an index outside [0, len).
int wrap(int p, int len) {
  if (p < 0) p -= ((p - len + 1) / len) * len;
  if (p >= len) p %= len;
  return p;
}

// saturate_cast<int>(double): round half to even (the SSE conversion), clamped first.
int round_to_int(double v) {
  v = std::max(static_cast<double>(INT_MIN), std::min(static_cast<double>(INT_MAX), v));
  return static_cast<int>(std::nearbyint(v));
}

int16_t saturate_short(int v) { return static_cast<int16_t>(std::clamp(v, -32768, 32767)); }

// The bilinear weights of sub-pixel position (fx, fy), in 1/32768: exact products of the 1/32
// fractions, so they always sum to 32768.
std::array<int, 4> weights(int fx, int fy) {
  const int wx0 = kTabSize - fx, wy0 = kTabSize - fy;
  const int scale = (1 << kCoefBits) / (kTabSize * kTabSize);
  return {wy0 * wx0 * scale, wy0 * fx * scale, fy * wx0 * scale, fy * fx * scale};
}

// One destination pixel from source position (sx, sy) + (fx, fy)/32.
void sample(const io::Image8& src, int sx, int sy, int fx, int fy, uint8_t* out) {
  const int x0 = wrap(sx, src.width), x1 = wrap(sx + 1, src.width);
  const int y0 = wrap(sy, src.height), y1 = wrap(sy + 1, src.height);
  const auto w = weights(fx, fy);
  for (int c = 0; c < 3; ++c) {
    const int v = src.at(y0, x0, c) * w[0] + src.at(y0, x1, c) * w[1] + src.at(y1, x0, c) * w[2] +
                  src.at(y1, x1, c) * w[3];
    out[c] = static_cast<uint8_t>(std::clamp((v + (1 << (kCoefBits - 1))) >> kCoefBits, 0, 255));
  }
}

// OpenCV's block sizes: the row start of each block enters the double arithmetic.
void block_size(int width, int height, int* bw, int* bh) {
  constexpr int kBlock = 32;
  *bh = std::min(kBlock / 2, height);
  *bw = std::min(kBlock * kBlock / *bh, width);
  *bh = std::min(kBlock * kBlock / *bw, height);
}

}  // namespace

Matrix3 dd_2d_matrix(int width, int height, double angle_deg, double zoom, double tx, double ty) {
  const double cx = static_cast<float>(width / 2), cy = static_cast<float>(height / 2);
  const double angle = angle_deg * (M_PI / 180);
  const double a = std::cos(angle) * zoom, b = std::sin(angle) * zoom;
  const Matrix3 r = {a, b, (1 - a) * cx - b * cy, -b, a, b * cx + (1 - a) * cy, 0, 0, 1};
  const Matrix3 t = {1, 0, static_cast<float>(tx), 0, 1, static_cast<float>(ty), 0, 0, 1};
  // np.matmul goes through OpenBLAS's dgemm, which accumulates with fused multiply-adds: the
  // second product is fused with the first, the third (by 0 or 1) added. The last bit of M can
  // decide a 1/32-pixel rounding, so it is kept.
  Matrix3 m{};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      m[i * 3 + j] = std::fma(r[i * 3 + 1], t[3 + j], r[i * 3] * t[j]) + r[i * 3 + 2] * t[6 + j];
  return m;
}

Matrix3 invert_3x3(const Matrix3& s) {
  const auto e = [&](int i, int j) { return s[i * 3 + j]; };
  double d = e(0, 0) * (e(1, 1) * e(2, 2) - e(1, 2) * e(2, 1)) - e(0, 1) * (e(1, 0) * e(2, 2) - e(1, 2) * e(2, 0)) +
             e(0, 2) * (e(1, 0) * e(2, 1) - e(1, 1) * e(2, 0));
  DISCO_CHECK(d != 0, SettingsError, "the 2D motion of this frame has no inverse (is zoom 0?); give zoom > 0.");
  d = 1. / d;
  return {(e(1, 1) * e(2, 2) - e(1, 2) * e(2, 1)) * d, (e(0, 2) * e(2, 1) - e(0, 1) * e(2, 2)) * d,
          (e(0, 1) * e(1, 2) - e(0, 2) * e(1, 1)) * d, (e(1, 2) * e(2, 0) - e(1, 0) * e(2, 2)) * d,
          (e(0, 0) * e(2, 2) - e(0, 2) * e(2, 0)) * d, (e(0, 2) * e(1, 0) - e(0, 0) * e(1, 2)) * d,
          (e(1, 0) * e(2, 1) - e(1, 1) * e(2, 0)) * d, (e(0, 1) * e(2, 0) - e(0, 0) * e(2, 1)) * d,
          (e(0, 0) * e(1, 1) - e(0, 1) * e(1, 0)) * d};
}

io::Image8 warp_perspective_wrap(const io::Image8& src, const Matrix3& forward) {
  const Matrix3 m = invert_3x3(forward);
  io::Image8 dst{src.width, src.height, std::vector<uint8_t>(src.rgb.size())};
  int bw = 0, bh = 0;
  block_size(dst.width, dst.height, &bw, &bh);
  for (int y = 0; y < dst.height; ++y)
    for (int x = 0; x < dst.width; x += bw) {
      const double X0 = m[0] * x + m[1] * y + m[2], Y0 = m[3] * x + m[4] * y + m[5], W0 = m[6] * x + m[7] * y + m[8];
      for (int x1 = 0; x1 < std::min(bw, dst.width - x); ++x1) {
        double w = W0 + m[6] * x1;
        w = w != 0 ? kTabSize / w : 0;
        const int X = round_to_int((X0 + m[0] * x1) * w), Y = round_to_int((Y0 + m[3] * x1) * w);
        sample(src, saturate_short(X >> kTabBits), saturate_short(Y >> kTabBits), X & (kTabSize - 1),
               Y & (kTabSize - 1), &dst.at(y, x + x1, 0));
      }
    }
  return dst;
}

}  // namespace disco::animation
