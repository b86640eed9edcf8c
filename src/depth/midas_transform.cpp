// DD's MiDaS input and prediction for one frame: midas_utils.read_image, MiDaS' Resize (with
// OpenCV's INTER_CUBIC), NormalizeImage, PrepareForNet, the forward pass and the bicubic resize
// back (disco_xform_utils.transform_image_3d).
#include <algorithm>
#include <cmath>
#include <vector>

#include "common/error.h"
#include "depth/midas.h"

namespace disco::depth {

namespace F = torch::nn::functional;

namespace {

// DD's net size for dpt_large and MiDaS' ensure_multiple_of.
constexpr int64_t kMidasNetSize = 384;
constexpr double kMidasMultiple = 32;

// MiDaS' constrain_to_multiple_of with no bounds: np.round(x / 32) * 32 (halves to even).
int64_t midas_multiple_of(double x) { return static_cast<int64_t>(std::nearbyint(x / kMidasMultiple) * kMidasMultiple); }

// OpenCV's interpolateCubic, in float as OpenCV computes it (A = -0.75).
void cv2_cubic_coeffs(float x, float* c) {
  const float A = -0.75f;
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = 1.f - c[0] - c[1] - c[2];
}

// One axis of cv::resize's table: for each destination index the four source indices (clamped:
// BORDER_REPLICATE) and their float coefficients.
struct Cv2CubicTaps {
  std::vector<int64_t> index;  // 4 per output
  std::vector<float> coeff;    // 4 per output
};

Cv2CubicTaps cv2_cubic_taps(int64_t src, int64_t dst) {
  // cv::resize: inv_scale = dst / src, then scale = 1 / inv_scale (not src / dst: the last bit can differ).
  const double scale = 1. / (static_cast<double>(dst) / static_cast<double>(src));
  Cv2CubicTaps t;
  t.index.resize(dst * 4);
  t.coeff.resize(dst * 4);
  for (int64_t d = 0; d < dst; ++d) {
    float f = static_cast<float>((d + 0.5) * scale - 0.5);
    const auto s = static_cast<int64_t>(std::floor(f));
    f -= static_cast<float>(s);
    cv2_cubic_coeffs(f, &t.coeff[d * 4]);
    for (int64_t k = 0; k < 4; ++k) t.index[d * 4 + k] = std::clamp<int64_t>(s - 1 + k, 0, src - 1);
  }
  return t;
}

}  // namespace

std::pair<int64_t, int64_t> midas_net_size(int64_t width, int64_t height) {
  double scale_height = static_cast<double>(kMidasNetSize) / static_cast<double>(height);
  double scale_width = static_cast<double>(kMidasNetSize) / static_cast<double>(width);
  // resize_method "minimal": scale as little as possible.
  if (std::abs(1 - scale_width) < std::abs(1 - scale_height))
    scale_height = scale_width;
  else
    scale_width = scale_height;
  const int64_t w = midas_multiple_of(scale_width * static_cast<double>(width));
  const int64_t h = midas_multiple_of(scale_height * static_cast<double>(height));
  DISCO_CHECK(w > 0 && h > 0, SettingsError, "a ", width, "x", height, " image is too narrow for MiDaS: its input would be ",
              w, "x", h, " (DD fails here too); use a less extreme aspect ratio.");
  return {w, h};
}

at::Tensor cv2_resize_cubic(const at::Tensor& src_in, int64_t width, int64_t height) {
  const at::Tensor src = src_in.to(torch::kDouble).contiguous();
  const int64_t H = src.size(0), W = src.size(1), C = src.size(2);
  if (H == height && W == width) return src.clone();  // cv::resize copies an image of the same size
  const Cv2CubicTaps tx = cv2_cubic_taps(W, width), ty = cv2_cubic_taps(H, height);
  const double* S = src.data_ptr<double>();
  // Horizontal pass over every source row, then the vertical pass, as OpenCV's resizeGeneric.
  std::vector<double> rows(static_cast<size_t>(H * width * C));
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t* i = &tx.index[x * 4];
        const float* a = &tx.coeff[x * 4];
        const double* r = S + y * W * C + c;
        rows[(y * width + x) * C + c] = r[i[0] * C] * a[0] + r[i[1] * C] * a[1] + r[i[2] * C] * a[2] + r[i[3] * C] * a[3];
      }
  at::Tensor out = torch::empty({height, width, C}, torch::kDouble);
  double* D = out.data_ptr<double>();
  const int64_t row = width * C;
  for (int64_t y = 0; y < height; ++y) {
    const int64_t* i = &ty.index[y * 4];
    const float* b = &ty.coeff[y * 4];
    for (int64_t k = 0; k < row; ++k)
      D[y * row + k] = rows[i[0] * row + k] * b[0] + rows[i[1] * row + k] * b[1] + rows[i[2] * row + k] * b[2] +
                       rows[i[3] * row + k] * b[3];
  }
  return out;
}

at::Tensor midas_input(const io::Image8& image) {
  // read_image: cv2 RGB / 255.0 (float64).
  at::Tensor img = io::to_u8_tensor(image).to(torch::kDouble) / 255.0;  // [H, W, 3]
  const auto [w, h] = midas_net_size(image.width, image.height);
  at::Tensor resized = cv2_resize_cubic(img, w, h);
  // NormalizeImage (float64), then PrepareForNet: CHW float32.
  return ((resized - 0.5) / 0.5).permute({2, 0, 1}).contiguous().to(torch::kFloat);
}

at::Tensor midas_prediction(DPTDepthModel& model, const io::Image8& image, c10::Device device) {
  torch::NoGradGuard no_grad;
  const auto dtype = model->parameters().front().scalar_type();
  at::Tensor sample = midas_input(image).unsqueeze(0).to(device);
  sample = sample.to(dtype);
  at::Tensor prediction = model->forward(sample);  // [1, h, w]
  prediction = F::interpolate(prediction.unsqueeze(1), F::InterpolateFuncOptions()
                                                           .size(std::vector<int64_t>{image.height, image.width})
                                                           .mode(torch::kBicubic)
                                                           .align_corners(false));
  return prediction.squeeze().to(torch::kCPU, torch::kFloat);
}

}  // namespace disco::depth
