// disco.py MakeCutoutsDango.forward (dd-spec §5.3) and MakeCutouts.forward (§6.2).
#include "guidance/cutouts.h"

#include <algorithm>

#include "common/device.h"
#include "common/error.h"
#include "guidance/resample.h"
#include "guidance/resize_right.h"

namespace disco::guidance {
namespace {

void check_image(const torch::Tensor& input, const char* who) {
  DISCO_CHECK(input.dim() == 4 && input.size(0) == 1 && input.size(1) == 3, SettingsError, who,
              ": expected one RGB image [1, 3, H, W], got ", input.sizes(), ".");
  DISCO_CHECK(input.size(2) > 0 && input.size(3) > 0, SettingsError, who, ": the image is empty (",
              input.size(2), "x", input.size(3), ").");
}

}  // namespace

torch::Tensor pad_overview(const torch::Tensor& input) {
  check_image(input, "MakeCutoutsDango");
  const int64_t side_y = input.size(2), side_x = input.size(3);
  const int64_t max_size = std::min(side_x, side_y);
  const int64_t pad_w = (side_y - max_size) / 2, pad_h = (side_x - max_size) / 2;
  return torch::constant_pad_nd(input, {pad_w, pad_w, pad_h, pad_h}, 0);
}

torch::Tensor overview_cuts(const torch::Tensor& input, int64_t cut_size, int64_t overview, ResizeWeights* weights) {
  DISCO_CHECK(cut_size > 0 && overview >= 0, SettingsError, "MakeCutoutsDango: cut size ", cut_size,
              " and Overview ", overview, " must be positive and non-negative.");
  auto cut = resize_right(pad_overview(input), cut_size, cut_size, weights);  // [1, 3, cut, cut]
  std::vector<torch::Tensor> cuts;
  if (overview <= 4) {
    const std::vector<torch::Tensor> variants = {cut, grayscale3(cut), hflip(cut), grayscale3(hflip(cut))};
    cuts.assign(variants.begin(), variants.begin() + overview);
  } else {
    // QUIRK(dd-spec §15.11): above 4 the overview is repeated without gray or flipped variants.
    cuts.assign(static_cast<size_t>(overview), cut);
  }
  if (cuts.empty()) return torch::empty({0, 3, cut_size, cut_size}, input.options());
  return torch::cat(cuts);
}

std::vector<InnerCropBox> draw_inner_crops(int64_t height, int64_t width, const DangoCutSettings& s,
                                           at::Generator& cpu) {
  check_cpu_generator(cpu, "MakeCutoutsDango");
  const int64_t max_size = std::min(width, height);
  const int64_t min_size = std::min({width, height, s.cut_size});
  // QUIRK(dd-spec §15.11): `<=` makes crop 0 gray even for IC_Grey_P = 0.
  const auto gray_until = static_cast<int64_t>(s.ic_grey_p * static_cast<double>(s.inner_crop));
  std::vector<InnerCropBox> boxes;
  for (int64_t i = 0; i < s.inner_crop; ++i) {
    InnerCropBox box;
    auto u = torch::rand({}, cpu, torch::kFloat);
    // int(u**pow * (max - min) + min) with float32 tensor arithmetic, truncated like int().
    box.size = static_cast<int64_t>((u.pow(s.ic_size_pow) * (max_size - min_size) + min_size).item<float>());
    box.offsetx = torch::randint(0, width - box.size + 1, {}, cpu, torch::kLong).item<int64_t>();
    box.offsety = torch::randint(0, height - box.size + 1, {}, cpu, torch::kLong).item<int64_t>();
    box.gray = i <= gray_until;
    boxes.push_back(box);
  }
  return boxes;
}

namespace {
void check_boxes(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes) {
  check_image(input, "MakeCutoutsDango");
  const int64_t side_y = input.size(2), side_x = input.size(3);
  for (const auto& b : boxes)
    DISCO_CHECK(b.size > 0 && b.offsetx >= 0 && b.offsety >= 0 && b.offsetx + b.size <= side_x &&
                    b.offsety + b.size <= side_y,
                SettingsError, "MakeCutoutsDango: the inner crop of size ", b.size, " at (", b.offsetx, ", ",
                b.offsety, ") does not fit the ", side_x, "x", side_y, " image.");
}

// [n * side, cut] on like's device and dtype: for box i, rows i*side + offset ... + size - 1 hold its
// [cut, size] resize matrix transposed; the rest is zero. `offset` picks offsety or offsetx. Built
// from the matrices' nonzero taps: their positions and values go to the device in one copy each.
torch::Tensor placed_matrices(const std::vector<InnerCropBox>& boxes, int64_t side, int64_t cut, bool rows,
                              const torch::Tensor& like, ResizeWeights* weights) {
  std::vector<std::shared_ptr<const ResizeTaps>> taps;
  int64_t total = 0;
  for (const auto& b : boxes) {
    taps.push_back(weights ? weights->taps(b.size, cut) : resize_right_taps(b.size, cut));
    total += static_cast<int64_t>(taps.back()->weight.size());
  }
  const auto host = torch::TensorOptions().pinned_memory(like.is_cuda());
  auto index = torch::empty({total}, host.dtype(torch::kLong));
  auto value = torch::empty({total}, host.dtype(torch::kFloat));
  int64_t* idx = index.data_ptr<int64_t>();
  float* val = value.data_ptr<float>();
  for (size_t i = 0; i < boxes.size(); ++i) {
    const auto& t = *taps[i];
    const int64_t first = static_cast<int64_t>(i) * side + (rows ? boxes[i].offsety : boxes[i].offsetx);
    for (size_t e = 0; e < t.weight.size(); ++e) {
      *idx++ = (first + t.in[e]) * cut + t.out[e];
      *val++ = t.weight[e];
    }
  }
  auto placed = torch::zeros({static_cast<int64_t>(boxes.size()) * side, cut}, like.options());
  placed.view({-1}).index_copy_(0, index.to(like.device(), /*non_blocking=*/true),
                               value.to(like.device(), like.scalar_type(), /*non_blocking=*/true));
  return placed;
}
}  // namespace

torch::Tensor inner_cuts(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes, int64_t cut_size,
                         ResizeWeights* weights) {
  check_boxes(input, boxes);
  if (boxes.empty()) return torch::empty({0, 3, cut_size, cut_size}, input.options());
  const int64_t n = static_cast<int64_t>(boxes.size()), h = input.size(2), w = input.size(3), c = cut_size;
  // Heights first, as ResizeRight on a square crop: U_i = A_i X over all three channels at once.
  const auto a_t = placed_matrices(boxes, h, c, /*rows=*/true, input, weights);         // [n*h, c]
  const auto a = a_t.view({n, h, c}).transpose(1, 2).reshape({n * c, h});                // [n*c, h]
  const auto x = input.reshape({3, h, w}).permute({1, 0, 2}).reshape({h, 3 * w});         // [h, 3w]
  const auto u = a.mm(x).view({n, 3 * c, w});                                           // [n, c*3, w]
  // Then widths: V_i = U_i B_i^T.
  const auto b_t = placed_matrices(boxes, w, c, /*rows=*/false, input, weights).view({n, w, c});  // [n, w, c]
  auto cuts = u.bmm(b_t).view({n, c, 3, c}).permute({0, 2, 1, 3}).contiguous();        // [n, 3, c, c]
  std::vector<int64_t> gray;
  for (int64_t i = 0; i < n; ++i)
    if (boxes[static_cast<size_t>(i)].gray) gray.push_back(i);
  if (gray.empty()) return cuts;
  const auto gi = upload(torch::tensor(gray, torch::kLong), input.options().dtype(torch::kLong));
  return cuts.index_copy(0, gi, grayscale3(cuts.index_select(0, gi)).contiguous());
}

torch::Tensor inner_cuts_per_crop(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes,
                                  int64_t cut_size, ResizeWeights* weights) {
  check_boxes(input, boxes);
  std::vector<torch::Tensor> cuts;
  for (const auto& b : boxes) {
    auto crop = input.slice(2, b.offsety, b.offsety + b.size).slice(3, b.offsetx, b.offsetx + b.size);
    if (b.gray) crop = grayscale3(crop);
    cuts.push_back(resize_right(crop, cut_size, cut_size, weights));
  }
  if (cuts.empty()) return torch::empty({0, 3, cut_size, cut_size}, input.options());
  return torch::cat(cuts);
}

MakeCutoutsDango::MakeCutoutsDango(DangoCutSettings settings, AugMode mode, bool skip_augs,
                                   CutoutsExecution execution, ResizeWeights* weights)
    : settings_(settings), mode_(mode), skip_augs_(skip_augs), execution_(execution), weights_(weights) {
  const auto& s = settings_;
  DISCO_CHECK(s.cut_size > 0, SettingsError, "MakeCutoutsDango: the cut size must be positive, got ", s.cut_size,
              " (it is the CLIP model's input resolution).");
  DISCO_CHECK(s.overview >= 0 && s.inner_crop >= 0, SettingsError, "MakeCutoutsDango: cut_overview (",
              s.overview, ") and cut_innercut (", s.inner_crop, ") must not be negative.");
  DISCO_CHECK(s.overview + s.inner_crop > 0, SettingsError,
              "MakeCutoutsDango: cut_overview and cut_innercut are both 0 at this step, so there is nothing "
              "to guide with; give one of them a positive count.");
  DISCO_CHECK(s.ic_size_pow >= 0, SettingsError, "MakeCutoutsDango: cut_ic_pow must not be negative, got ",
              s.ic_size_pow, " (it would make inner crops larger than the image).");
}

torch::Tensor MakeCutoutsDango::operator()(const torch::Tensor& input, at::Generator& cpu,
                                           at::Generator& noise) const {
  return with_overview(input, overview(input), cpu, noise);
}

torch::Tensor MakeCutoutsDango::overview(const torch::Tensor& input) const {
  return overview_cuts(input, settings_.cut_size, settings_.overview, weights_);
}

torch::Tensor MakeCutoutsDango::resize_inner(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes) const {
  return execution_.per_crop ? inner_cuts_per_crop(input, boxes, settings_.cut_size, weights_)
                             : inner_cuts(input, boxes, settings_.cut_size, weights_);
}

torch::Tensor MakeCutoutsDango::with_overview(const torch::Tensor& input, const torch::Tensor& overview,
                                              at::Generator& cpu, at::Generator& noise) const {
  return batches(input, overview, 1, cpu, noise);
}

torch::Tensor MakeCutoutsDango::batches(const torch::Tensor& input, const torch::Tensor& overview, int64_t count,
                                        at::Generator& cpu, at::Generator& noise) const {
  check_image(input, "MakeCutoutsDango");
  DISCO_CHECK(overview.dim() == 4 && overview.size(0) == settings_.overview, SettingsError,
              "MakeCutoutsDango: ", overview.size(0), " overview cuts given for Overview = ", settings_.overview, ".");
  DISCO_CHECK(count >= 1, SettingsError, "MakeCutoutsDango: ", count, " cutn batches asked for; at least 1.");
  const int64_t per = settings_.overview + settings_.inner_crop, c = settings_.cut_size;
  std::vector<torch::Tensor> noises;  // one tensor per additive noise, every batch's rows
  if (!skip_augs_)
    for (int64_t j = 0; j < noise_draws(mode_); ++j) noises.push_back(torch::empty({count * per, 3, c, c}, input.options()));
  // Every batch's draws first, in DD's order (its crops, then its augmentations); the cuts after.
  std::vector<InnerCropBox> boxes;
  std::vector<AugDraws> draws;
  for (int64_t b = 0; b < count; ++b) {
    const auto drawn = draw_inner_crops(input.size(2), input.size(3), settings_, cpu);
    boxes.insert(boxes.end(), drawn.begin(), drawn.end());
    if (skip_augs_) continue;
    std::vector<torch::Tensor> rows;
    for (const auto& t : noises) rows.push_back(t.slice(0, b * per, (b + 1) * per));
    draws.push_back(draw_augment(mode_, rows, cpu, noise));
  }
  const auto inner = resize_inner(input, boxes);  // [count * inner, 3, c, c]
  // Split, not sliced: one backward node, not a zero-filled gradient of `inner`'s size per batch.
  const auto inner_blocks = settings_.inner_crop > 0 ? inner.split(settings_.inner_crop) : std::vector<torch::Tensor>{};
  std::vector<torch::Tensor> parts;
  for (int64_t b = 0; b < count; ++b) {
    parts.push_back(overview);
    if (settings_.inner_crop > 0) parts.push_back(inner_blocks[static_cast<size_t>(b)]);
  }
  auto cuts = torch::cat(parts);
  if (skip_augs_) return cuts;
  return apply_augment(cuts, draws, std::move(noises), execution_.blocks);
}

// [overview..., inner...] -> [overview + inner, 3, cut, cut], augmented as one batch.
torch::Tensor MakeCutoutsDango::assemble(const torch::Tensor& overview, const torch::Tensor& inner,
                                         at::Generator& cpu, at::Generator& noise) const {
  auto cuts = torch::cat({overview, inner});
  if (skip_augs_) return cuts;
  return augment(cuts, mode_, cpu, noise);
}

torch::Tensor MakeCutoutsDango::operator()(const torch::Tensor& input, const std::vector<InnerCropBox>& boxes,
                                           at::Generator& cpu, at::Generator& noise) const {
  check_image(input, "MakeCutoutsDango");
  DISCO_CHECK(static_cast<int64_t>(boxes.size()) == settings_.inner_crop, SettingsError,
              "MakeCutoutsDango: ", boxes.size(), " inner crop boxes given for InnerCrop = ", settings_.inner_crop,
              ".");
  return assemble(overview(input), resize_inner(input, boxes), cpu, noise);
}

torch::Tensor pad_prompt_image(const torch::Tensor& t) {
  check_image(t, "MakeCutouts");
  const int64_t pad = t.size(2) / 4;
  return torch::constant_pad_nd(t, {pad, pad, pad, pad}, 0);
}

PromptCrop draw_prompt_crop(int64_t ch, int64_t cutn, int64_t padded_h, int64_t padded_w, int64_t cut_size,
                            at::Generator& cpu) {
  check_cpu_generator(cpu, "MakeCutouts");
  PromptCrop crop;
  if (ch > cutn - cutn / 4) {
    crop.full = true;
    return crop;
  }
  const int64_t max_size = std::min(padded_w, padded_h);
  auto v = torch::zeros({1}, torch::kFloat).normal_(0.8, 0.3, cpu);
  const double lo = static_cast<double>(cut_size) / static_cast<double>(max_size);
  crop.size = static_cast<int64_t>((v.clip(lo, 1.0) * max_size).item<float>());
  crop.offsetx = torch::randint(0, std::abs(padded_w - crop.size + 1), {}, cpu, torch::kLong).item<int64_t>();
  crop.offsety = torch::randint(0, std::abs(padded_h - crop.size + 1), {}, cpu, torch::kLong).item<int64_t>();
  return crop;
}

torch::Tensor apply_prompt_crop(const torch::Tensor& padded, const PromptCrop& c) {
  if (c.full) return padded.clone();
  DISCO_CHECK(c.size > 0 && c.offsetx >= 0 && c.offsety >= 0 && c.offsetx + c.size <= padded.size(3) &&
                  c.offsety + c.size <= padded.size(2),
              SettingsError, "MakeCutouts: the crop of size ", c.size, " at (", c.offsetx, ", ", c.offsety,
              ") does not fit the ", padded.size(3), "x", padded.size(2), " padded image prompt.");
  return padded.slice(2, c.offsety, c.offsety + c.size).slice(3, c.offsetx, c.offsetx + c.size);
}

torch::Tensor make_cutouts_prompt(const torch::Tensor& t, int64_t cut_size, int64_t cutn, bool skip_augs,
                                  at::Generator& cpu, at::Generator& noise) {
  DISCO_CHECK(cut_size > 0 && cutn > 0, SettingsError, "MakeCutouts: cut size ", cut_size, " and cutn ", cutn,
              " must be positive.");
  auto padded = pad_prompt_image(t);
  std::vector<torch::Tensor> cuts;
  for (int64_t ch = 0; ch < cutn; ++ch) {
    auto crop = draw_prompt_crop(ch, cutn, padded.size(2), padded.size(3), cut_size, cpu);
    auto cut = apply_prompt_crop(padded, crop);
    if (!skip_augs) cut = augment(cut, AugMode::VideoInput, cpu, noise);
    cuts.push_back(resample(cut, cut_size, cut_size));
  }
  return torch::cat(cuts);
}

}  // namespace disco::guidance
