// disco.py MakeCutoutsDango (guidance cutouts, dd-spec §5.3) and the old MakeCutouts (image
// prompts, §6.2). Random draws are split from their use so that tests and callers can inject
// them: draw_* consumes the CPU generator in DD's order, the rest is deterministic.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/core/Generator.h>
#include <torch/torch.h>

#include "guidance/augmentations.h"
#include "guidance/resize_right.h"

namespace disco::guidance {

// One cutn batch's cut settings (cut_overview[k], cut_innercut[k], cut_ic_pow[k], cut_icgray_p[k]).
struct DangoCutSettings {
  int64_t cut_size = 224;
  int64_t overview = 0;
  int64_t inner_crop = 0;
  double ic_size_pow = 0.5;
  double ic_grey_p = 0.2;
};

// One inner crop: a size x size square at (offsetx, offsety) of the unpadded image.
struct InnerCropBox {
  int64_t size = 0, offsetx = 0, offsety = 0;
  bool gray = false;
};

// Zero-pads [1, 3, H, W] towards a square. QUIRK(dd-spec §5.3): W is padded by the H-derived
// amount and H by the W-derived one, so an odd |H - W| stays one pixel off square.
torch::Tensor pad_overview(const torch::Tensor& input);

// The Overview cuts of input [1, 3, H, W] -> [overview, 3, cut, cut]: the first `overview` of
// [cut, gray, hflip, gray(hflip)] for 1..4, identical copies of the cut above 4. `weights`
// (optional) keeps the resize's weights (resize_right).
torch::Tensor overview_cuts(const torch::Tensor& input, int64_t cut_size, int64_t overview,
                            ResizeWeights* weights = nullptr);

// For i = 0..inner_crop-1: u = rand([]), size, offsetx = randint, offsety = randint (CPU).
std::vector<InnerCropBox> draw_inner_crops(int64_t height, int64_t width, const DangoCutSettings& s,
                                           at::Generator& cpu);

// Crops (grayscale where box.gray) and resizes each box: -> [boxes, 3, cut, cut].
// All boxes are resized at once: each crop-and-resize is a pair of matrices over the whole image
// (the crop's ResizeRight weights at its offset, zeros elsewhere), so the batch takes two matrix
// products and a handful of kernels instead of several per box, forward and backward. Grayscale
// is applied after the resize (both are linear, so only float rounding differs).
torch::Tensor inner_cuts(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes, int64_t cut_size,
                         ResizeWeights* weights = nullptr);
// The box-by-box form (crop, grayscale, resize_right, as the reference). Same result up to float
// rounding; kept for tests and for `disco bench --per-crop-cutouts`.
torch::Tensor inner_cuts_per_crop(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes, int64_t cut_size,
                                  ResizeWeights* weights = nullptr);

// How MakeCutoutsDango computes its cuts, where the ways give the same cuts up to float rounding:
// the defaults are the fast forms; the others are there to be compared (disco bench).
struct CutoutsExecution {
  bool per_crop = false;                       // inner_cuts_per_crop rather than inner_cuts
  BlockBatching blocks = BlockBatching::Auto;  // how apply_augment treats the cutn batches
};

// MakeCutoutsDango(cut_size, Overview, InnerCrop, IC_Size_Pow, IC_Grey_P) plus DD's globals
// skip_augs and animation_mode. input [1, 3, H, W] in ~[0, 1] -> [overview + inner, 3, cut, cut].
class MakeCutoutsDango {
 public:
  // Throws SettingsError on a non-positive cut size, negative counts, no cuts at all or a
  // negative IC_Size_Pow. `weights` (optional, not owned) keeps the resizes' weights between calls
  // and must outlive this object.
  explicit MakeCutoutsDango(DangoCutSettings settings, AugMode mode = AugMode::None, bool skip_augs = false,
                            CutoutsExecution execution = {}, ResizeWeights* weights = nullptr);

  // cpu: crop draws and augmentation parameters; noise: generator of input's device.
  torch::Tensor operator()(const torch::Tensor& input, at::Generator& cpu, at::Generator& noise) const;
  // The same with the inner crops given (no crop draws).
  torch::Tensor operator()(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes, at::Generator& cpu,
                           at::Generator& noise) const;
  // The same with the overview cuts given: they draw nothing, so one overview(input) serves every
  // cutn batch of a step.
  torch::Tensor with_overview(const torch::Tensor& input, const torch::Tensor& overview, at::Generator& cpu,
                              at::Generator& noise) const;
  torch::Tensor overview(const torch::Tensor& input) const;
  // `count` cutn batches at once: [count * (overview + inner), 3, cut, cut], batch b in rows
  // b * (overview + inner) onwards. The draws are those of `count` with_overview calls, in their
  // order. The inner cuts are resized together, and on a GPU the augmentations run once for all
  // batches (apply_augment): far fewer kernel launches for DD's 4 batches. The values are
  // with_overview's, up to the float rounding of the batched resize.
  torch::Tensor batches(const torch::Tensor& input, const torch::Tensor& overview, int64_t count, at::Generator& cpu,
                        at::Generator& noise) const;

  const DangoCutSettings& settings() const { return settings_; }

 private:
  torch::Tensor assemble(const torch::Tensor& overview, const torch::Tensor& inner, at::Generator& cpu,
                         at::Generator& noise) const;
  torch::Tensor resize_inner(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes) const;
  DangoCutSettings settings_;
  AugMode mode_;
  bool skip_augs_;
  CutoutsExecution execution_;
  ResizeWeights* weights_;
};

// --- old MakeCutouts (image prompts) ---

// T.Pad(H // 4, fill 0) on all four sides (0 is mid-grey in [-1, 1]).
torch::Tensor pad_prompt_image(const torch::Tensor& t);

// Cut `ch` of `cutn`: full image for ch > cutn - cutn // 4, otherwise a square whose size comes
// from normal_(0.8, 0.3) and whose offsets come from two randints (CPU, in that order).
struct PromptCrop {
  bool full = false;
  int64_t size = 0, offsetx = 0, offsety = 0;
};
PromptCrop draw_prompt_crop(int64_t ch, int64_t cutn, int64_t padded_h, int64_t padded_w, int64_t cut_size,
                            at::Generator& cpu);
torch::Tensor apply_prompt_crop(const torch::Tensor& padded, const PromptCrop& crop);

// MakeCutouts(cut_size, cutn, skip_augs)(t): t [1, 3, H, W] in [-1, 1] -> [cutn, 3, cut, cut].
// Crop draws and per-cut augmentations (the 'Video Input' pipeline) interleave as in DD.
torch::Tensor make_cutouts_prompt(const torch::Tensor& t, int64_t cut_size, int64_t cutn, bool skip_augs,
                                  at::Generator& cpu, at::Generator& noise);

}  // namespace disco::guidance
