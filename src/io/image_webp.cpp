// WebP files through libwebp, decoded as PIL 9.4's WebPImagePlugin does: libwebpdemux's
// WebPAnimDecoder with its default options (non-premultiplied RGBA, no threads), first frame only,
// for still and animated files alike. convert("RGB") then drops the alpha channel (PIL's mode is
// "RGBA", or "RGB" read as "RGBX" when the file has no alpha): nothing is composited.
#include <cstring>
#include <vector>

#include "common/error.h"
#include "io/image.h"
#include "io/image_decoders.h"

#ifdef DISCO_HAVE_WEBP
#include <webp/decode.h>
#include <webp/demux.h>
#endif

namespace disco::io {

#ifdef DISCO_HAVE_WEBP

bool have_webp_support() { return true; }

namespace {

[[noreturn]] void throw_damaged(const std::string& name, const char* why) {
  throw CheckpointError(::disco::detail::concat("cannot decode WebP image '", name, "' (libwebp: ", why,
                                                "); the file is truncated or damaged, download or export it again."));
}

// The first frame as RGBA, width * height * 4 bytes; the decoder owns that buffer until deleted.
std::vector<uint8_t> first_frame_rgba(const uint8_t* data, size_t size, int width, int height,
                                      const std::string& name) {
  WebPData src{data, size};
  WebPAnimDecoder* dec = WebPAnimDecoderNew(&src, nullptr);  // nullptr: the defaults PIL uses
  if (!dec) throw_damaged(name, "the container or bitstream is invalid");
  WebPAnimInfo info;
  uint8_t* rgba = nullptr;
  int timestamp = 0;
  const bool ok = WebPAnimDecoderGetInfo(dec, &info) && static_cast<int>(info.canvas_width) == width &&
                  static_cast<int>(info.canvas_height) == height && WebPAnimDecoderGetNext(dec, &rgba, &timestamp);
  std::vector<uint8_t> out;
  if (ok) out.assign(rgba, rgba + static_cast<size_t>(width) * height * 4);
  WebPAnimDecoderDelete(dec);
  if (!ok) throw_damaged(name, "the first frame cannot be decoded");
  return out;
}

}  // namespace

namespace decoders {

Image8 decode_webp_rgb(const uint8_t* data, size_t size, const std::string& name) {
  WebPBitstreamFeatures features;
  const VP8StatusCode status = WebPGetFeatures(data, size, &features);
  if (status == VP8_STATUS_NOT_ENOUGH_DATA) throw_damaged(name, "the header is cut short");
  if (status != VP8_STATUS_OK) throw_damaged(name, "the header is invalid");
  // Checked before WebPAnimDecoderNew, which allocates the whole canvas.
  check_image_size(features.width, features.height, name);
  const std::vector<uint8_t> rgba = first_frame_rgba(data, size, features.width, features.height, name);
  Image8 image{features.width, features.height, std::vector<uint8_t>(rgba.size() / 4 * 3)};
  for (size_t i = 0, n = rgba.size() / 4; i < n; ++i) std::memcpy(&image.rgb[i * 3], &rgba[i * 4], 3);
  return image;
}

}  // namespace decoders

#else  // no libwebp

bool have_webp_support() { return false; }

namespace decoders {

Image8 decode_webp_rgb(const uint8_t*, size_t, const std::string& name) {
  throw Error("cannot read WebP image '" + name + "': this build of disco-cpp has no WebP support (libwebp was " +
              "not found when it was built); install libwebp (apt-get install libwebp-dev) and rebuild, or " +
              "convert the image to PNG.");
}

}  // namespace decoders

#endif

}  // namespace disco::io
