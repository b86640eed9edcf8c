// Pillow's Image.resize(size, Image.LANCZOS / Image.BICUBIC) on an 8-bit RGB image (ImagingResample), bit for bit,
// and torchvision's shorter-edge size rule: DD's init-image and image-prompt resizes
// (dd-spec §2.3, §6.2, §15.24; manifest init_image / image_prompt).
#pragma once
#include <utility>

#include "io/image.h"

namespace disco::io {

// Separable Lanczos-3 (support widened by the downscale factor), double weights quantised to
// 22-bit fixed point, horizontal pass first into a uint8 image, then vertical; an axis whose
// size does not change is not filtered. Throws Error for a non-positive output size.
Image8 resize_lanczos(const Image8& image, int out_w, int out_h);

// Pillow's Image.resize(size, Image.BICUBIC) on an 8-bit RGB image, bit for bit: the same
// machinery with Keys' cubic (a = -0.5, support 2, widened by the downscale factor). DD's upsizing
// of a small frame for AdaBins (disco_xform_utils.transform_image_3d).
Image8 resize_bicubic(const Image8& image, int out_w, int out_h);

// torchvision TF.resize(img, s) with an int size: the shorter edge becomes s, the longer
// int(s * long / short) (truncated); orientation kept. Returns {width, height}.
std::pair<int, int> shorter_edge_size(int width, int height, int s);

// DD's image-prompt resize: TF.resize(img, min(side_x, side_y, W, H), LANCZOS), so an image is
// only ever downscaled (or kept), never stretched.
Image8 resize_image_prompt(const Image8& image, int side_x, int side_y);

}  // namespace disco::io
