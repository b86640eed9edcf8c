// The random cutout augmentations of DD (dd-spec §5.3 step 5, §6.2), torchvision ~0.13 tensor
// semantics. Parameters come from an explicit CPU generator; the additive noise comes from a
// generator of the cutouts' device (DD: the global CUDA generator; on CPU pass the CPU one).
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <ATen/core/Generator.h>
#include <torch/torch.h>

namespace disco::guidance {

// animation_mode picks the pipeline: 'None', '2D'/'3D', 'Video Input'.
enum class AugMode { None, Animation, VideoInput };

// Throws SettingsError for an unknown animation_mode.
AugMode aug_mode_from_animation_mode(const std::string& animation_mode);

// A fresh CPU generator seeded like torch.manual_seed(seed).
at::Generator make_cpu_generator(uint64_t seed);
// Throws SettingsError unless gen is a CPU generator; `who` starts the message.
void check_cpu_generator(const at::Generator& gen, const char* who);

// torchvision rgb_to_grayscale: 0.2989 R + 0.587 G + 0.114 B. x [..., 3, H, W] -> [..., 1, H, W].
torch::Tensor rgb_to_grayscale(const torch::Tensor& x);
// T.Grayscale(3): the luma copied to 3 channels (a broadcast view).
torch::Tensor grayscale3(const torch::Tensor& x);

// Reverses W.
torch::Tensor hflip(const torch::Tensor& x);

// The parameters of one RandomAffine draw (angle in degrees, integer pixel translation).
struct AffineParams {
  double angle = 0;
  int64_t tx = 0, ty = 0;
};
// angle ~ U(-degrees, degrees), tx = round(U(-f·W, f·W)), ty = round(U(-f·H, f·H)), in that order.
AffineParams draw_affine(int64_t height, int64_t width, double degrees, double translate, at::Generator& cpu);
// Rotation about the centre plus translation, sampled with grid_sample (zero padding), with
// torchvision's fill handling (bilinear: img·mask; nearest: pixels with mask < 0.5 set to 0).
torch::Tensor apply_affine(const torch::Tensor& x, const AffineParams& p, bool nearest);

// End points (TL, TR, BR, BL as (x, y)) of one RandomPerspective draw, 8 randints in that order.
using Corners = std::array<std::array<int64_t, 2>, 4>;
Corners draw_perspective(int64_t height, int64_t width, double distortion_scale, at::Generator& cpu);
// Maps the image corners to `end_points` (bilinear, fill 0).
torch::Tensor apply_perspective(const torch::Tensor& x, const Corners& end_points);

// One ColorJitter draw: the op order (0 brightness, 1 contrast, 2 saturation, 3 hue) and factors.
// A factor left empty (strength 0) is torchvision's None: not drawn, op skipped.
struct JitterParams {
  std::array<int64_t, 4> order{0, 1, 2, 3};
  std::optional<double> brightness, contrast, saturation, hue;
};
JitterParams draw_jitter(double brightness, double contrast, double saturation, double hue, at::Generator& cpu);
torch::Tensor apply_jitter(const torch::Tensor& x, const JitterParams& p);
torch::Tensor adjust_hue(const torch::Tensor& x, double hue_factor);

// The whole pipeline of `mode`, applied once to the batch x [N, 3, h, w] (every random parameter
// shared by the batch, only the noise per element), drawing in dd-spec §14 order.
torch::Tensor augment(const torch::Tensor& x, AugMode mode, at::Generator& cpu, at::Generator& noise);

}  // namespace disco::guidance
