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
// The same with a factor tensor broadcasting against x's [..., H, W] (one per image: [N, 1, 1]).
torch::Tensor adjust_hue(const torch::Tensor& x, const torch::Tensor& hue_factor);

// The pipeline of `mode` (dd-spec §5.3, §14) applied once to the batch x [N, 3, h, w]: every
// random parameter shared by the batch, only the noise per element. Draws and applies.
torch::Tensor augment(const torch::Tensor& x, AugMode mode, at::Generator& cpu, at::Generator& noise);

// --- the same in two stages, for several batches at once ---

// How many additive noises the pipeline of `mode` draws: 4 for Video Input, else 3.
int64_t noise_draws(AugMode mode);

// One augment() call's random parameters.
struct AugDraws {
  AugMode mode = AugMode::None;
  bool flip = false;
  AffineParams affine;
  bool perspective = false;  // Video Input only
  Corners corners{};
  bool gray = false;
  JitterParams jitter;       // not Video Input
};

// Draws what augment() draws, in its order: the parameters from `cpu`, and the noise_draws(mode)
// additive noises into `noise` (tensors [N, 3, h, w], filled in place) from `noise_gen`. The two
// interleave as in augment(), which matters where they are the same (CPU) generator.
AugDraws draw_augment(AugMode mode, const std::vector<torch::Tensor>& noise, at::Generator& cpu,
                      at::Generator& noise_gen);

// How apply_augment treats several blocks. Together: each operation runs once for all the blocks
// that take it (on just those rows, gathered and scattered back, where only some do), so B blocks
// cost about one block's operator calls: GPUs, where the cutouts are launch-bound. OneByOne: block
// after block, without the gathers' copies: CPUs, which are bound by memory traffic instead. Auto:
// Together on CUDA, else OneByOne. On the CPU both give augment()'s values bit for bit.
enum class BlockBatching { Auto, Together, OneByOne };

// Applies draws[b] to the rows [b*N, (b+1)*N) of x [B*N, 3, h, w], with noise[j] ([B*N, 3, h, w],
// block b's rows filled by its draw_augment) as the j-th additive noise. `noise` is released as it
// is used.
torch::Tensor apply_augment(const torch::Tensor& x, const std::vector<AugDraws>& draws, std::vector<torch::Tensor> noise,
                            BlockBatching how = BlockBatching::Auto);

}  // namespace disco::guidance
