// 8-bit RGB images: PNG files (libpng) and the tensor conversions Disco Diffusion makes with
// torchvision (TF.to_tensor, TF.to_pil_image), dd-spec §2.3, §12, §15.2.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/Tensor.h>

namespace disco::io {

// Row-major HWC, 3 bytes per pixel (R, G, B): numpy.array(pil_image) of an "RGB" image.
struct Image8 {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> rgb;  // height * width * 3

  uint8_t& at(int y, int x, int c) { return rgb[(static_cast<size_t>(y) * width + x) * 3 + c]; }
  uint8_t at(int y, int x, int c) const { return rgb[(static_cast<size_t>(y) * width + x) * 3 + c]; }
};

// PNG text chunks (tEXt / zTXt / iTXt), keyword -> value (UTF-8).
using PngText = std::map<std::string, std::string>;

// True when this build can read and write PNG files (built with libpng).
bool have_png_support();

// Any PNG libpng decodes, converted like PIL's .convert("RGB"): palettes expanded, gray
// replicated to R = G = B, alpha and tRNS dropped (not composited), 16-bit colour samples reduced
// to their high byte, gray below 8 bits scaled to 0..255. QUIRK: 16-bit gray (no alpha) is PIL
// mode "I", whose convert("RGB") clips each value to 0..255 instead (almost all white). Throws
// CheckpointError for a missing file, a file that is not a PNG, or a truncated/damaged one.
Image8 read_png(const std::string& path);

// The file formats read_image recognises, by their first bytes (never by the file name).
enum class ImageFormat { Unknown, Png, Jpeg, WebP };
ImageFormat detect_image_format(const uint8_t* data, size_t size);

// True when this build decodes JPEG (libjpeg-turbo) / WebP (libwebp) files.
bool have_jpeg_support();
bool have_webp_support();

// Larger images are refused from their header, before any pixel memory is taken: 100
// megapixels (e.g. 10000 x 10000) is far beyond any init image or image prompt DD resizes.
constexpr int64_t kMaxImagePixels = 100'000'000;

// DD's Image.open(fetch(path)).convert("RGB") for a PNG, JPEG or WebP file, detected by content:
// the pixels PIL gives (same libjpeg-turbo/libwebp settings; no EXIF rotation, as PIL's open()
// does none). Throws CheckpointError naming the file for a missing, unknown, truncated, damaged or
// oversized image, and Error when the build lacks the format's library (saying what to install).
Image8 read_image(const std::string& path);
// The same for a whole encoded file in memory (e.g. a download); `name` is used in messages.
Image8 decode_image(const std::vector<uint8_t>& bytes, const std::string& name);

// The text chunks of a PNG (e.g. the settings `disco --from image.png` reads back).
PngText read_png_text(const std::string& path);

// Writes an 8-bit RGB PNG with the given text chunks (ASCII values as tEXt, others as UTF-8
// iTXt). Atomic: written to a temporary file in the target folder and renamed over `path` on
// success, so a failure leaves no partial file. Throws SettingsError for an unusable text key,
// RuntimeError when the file cannot be written.
void write_png(const std::string& path, const Image8& image, const PngText& text = {});

// TF.to_tensor(img).unsqueeze(0): float32 [1, 3, H, W] = byte / 255.
at::Tensor to_tensor_01(const Image8& image);
// DD's form: to_tensor_01(img).mul(2).sub(1), float32 [1, 3, H, W] in [-1, 1].
at::Tensor to_tensor(const Image8& image);

// TF.to_pil_image(x) of a float tensor in [0, 1] ([1, 3, H, W] or [3, H, W]):
// byte = uint8(x * 255), truncating (values are expected in [0, 1] already).
Image8 from_tensor_01(const at::Tensor& x);
// DD's output conversion of x in [-1, 1] ([1, 3, H, W] or [3, H, W]):
// byte = uint8(clamp((x + 1) / 2, 0, 1) * 255) = floor(255 * p). QUIRK(dd-spec §15.2): truncates.
Image8 from_tensor(const at::Tensor& x);

// numpy.array(img): uint8 [H, W, 3] (a copy), and back (a [H, W, 3] uint8 tensor).
at::Tensor to_u8_tensor(const Image8& image);
Image8 from_u8_tensor(const at::Tensor& hwc);

}  // namespace disco::io
