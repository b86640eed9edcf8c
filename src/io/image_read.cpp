// io::read_image / io::decode_image: the format is told by the file's first bytes, as PIL's
// Image.open() does (each plugin's _accept), and the per-format decoder does the rest.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string_view>

#include "common/error.h"
#include "io/download.h"
#include "io/image.h"
#include "io/image_decoders.h"

namespace disco::io {

namespace {

// A local file larger than this is not an image anyone meant to give DD; refuse it before
// reading it into memory (a 100-megapixel PNG is far smaller).
constexpr int64_t kMaxFileBytes = int64_t{1} << 30;

bool starts_with(const uint8_t* data, size_t size, std::string_view magic, size_t at = 0) {
  return size >= at + magic.size() && std::memcmp(data + at, magic.data(), magic.size()) == 0;
}

// Formats PIL would open but disco-cpp does not decode, named so the error can say what the file is.
const char* other_format_name(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "GIF87a") || starts_with(data, size, "GIF89a")) return "a GIF image";
  if (starts_with(data, size, "BM")) return "a BMP image";
  if (starts_with(data, size, std::string_view("II*\0", 4)) || starts_with(data, size, std::string_view("MM\0*", 4)))
    return "a TIFF image";
  if (looks_like_html(std::string_view(reinterpret_cast<const char*>(data), std::min<size_t>(size, 256))))
    return "a web page (HTML)";
  return nullptr;
}

}  // namespace

ImageFormat detect_image_format(const uint8_t* data, size_t size) {
  if (starts_with(data, size, "\x89PNG\r\n\x1a\n")) return ImageFormat::Png;
  if (starts_with(data, size, "\xff\xd8\xff")) return ImageFormat::Jpeg;
  if (starts_with(data, size, "RIFF") && starts_with(data, size, "WEBP", 8)) return ImageFormat::WebP;
  return ImageFormat::Unknown;
}

namespace decoders {

std::vector<uint8_t> read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  DISCO_CHECK(f, CheckpointError, "cannot open image '", path, "': ", std::strerror(errno), "; check the path.");
  const std::streamoff size = f.tellg();
  DISCO_CHECK(size >= 0 && size <= kMaxFileBytes, CheckpointError, "image '", path, "' is ", size,
              " bytes, more than the 1 GiB disco-cpp reads; give a smaller image (at most 100 megapixels).");
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(bytes.data()), size);
  DISCO_CHECK(f.gcount() == size, CheckpointError, "cannot read image '", path, "': ", std::strerror(errno),
              "; check the file.");
  return bytes;
}

void check_image_size(int64_t width, int64_t height, const std::string& name) {
  DISCO_CHECK(width * height <= kMaxImagePixels, CheckpointError, "image '", name, "' is ", width, " x ", height,
              " pixels (", (width * height + 500'000) / 1'000'000, " megapixels), more than the ",
              kMaxImagePixels / 1'000'000, " megapixels disco-cpp reads; downscale it first (DD resizes it to ",
              "width_height anyway).");
}

}  // namespace decoders

Image8 decode_image(const std::vector<uint8_t>& bytes, const std::string& name) {
  const uint8_t* data = bytes.data();
  const size_t size = bytes.size();
  switch (detect_image_format(data, size)) {
    case ImageFormat::Png:
      return decoders::decode_png_rgb(data, size, name);
    case ImageFormat::Jpeg:
      return decoders::decode_jpeg_rgb(data, size, name);
    case ImageFormat::WebP:
      return decoders::decode_webp_rgb(data, size, name);
    case ImageFormat::Unknown:
      break;
  }
  DISCO_CHECK(size > 0, CheckpointError, "image '", name, "' is empty; give a PNG, JPEG or WebP image.");
  const char* what = other_format_name(data, size);
  throw CheckpointError(::disco::detail::concat("image '", name, "' is ", what ? what : "not a PNG, JPEG or WebP image",
                                       (what ? ", not a PNG, JPEG or WebP image" : " (by its content)"),
                                       "; convert it to PNG, JPEG or WebP, or check the path or URL."));
}

Image8 read_image(const std::string& path) { return decode_image(decoders::read_whole_file(path), path); }

}  // namespace disco::io
