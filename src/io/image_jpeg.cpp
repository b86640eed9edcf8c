// JPEG files through libjpeg-turbo, decoded as PIL 9.4's JpegImagePlugin + JpegDecode.c do, so the
// pixels match Image.open(f).convert("RGB") (Debian's python3-pil links the same libjpeg62-turbo):
// - libjpeg's defaults are kept: JDCT_ISLOW, fancy upsampling, block smoothing (PIL changes them
//   only in draft mode, which DD never uses); PIL opens the file with no EXIF rotation.
// - the output colour space follows the number of components in SOF, as PIL's mode does:
//   1 -> gray (then R = G = B), 3 -> RGB (libjpeg converts YCbCr), 4 -> CMYK (libjpeg converts
//   YCCK); others are refused, as PIL refuses them.
// - CMYK is read with Adobe's inverted polarity ("CMYK;I", PIL assumes it for every CMYK JPEG) and
//   converted with PIL's cmyk2rgb: R = (255 - K) - round(C * (255 - K) / 255), ink values.
// - libjpeg's warnings about corrupt data are ignored as PIL ignores them; running out of data is
//   an error, even when only the final EOI marker is missing (PIL: "image file is truncated").
#include <csetjmp>
#include <cstdio>
#include <vector>

#include "common/error.h"
#include "io/image.h"
#include "io/image_decoders.h"

#ifdef DISCO_HAVE_JPEG
#include <jpeglib.h>
#include <jerror.h>  // JWRN_JPEG_EOF
#endif

namespace disco::io {

#ifdef DISCO_HAVE_JPEG

bool have_jpeg_support() { return true; }

namespace {

// libjpeg reports fatal errors through error_exit, which must not return: it longjmps back to
// decode(). Warnings go through emit_message and are only recorded. The decompressor lives here,
// in the caller's frame, so its state is well defined after the longjmp. `mgr` comes first: the
// callbacks get a pointer to it and cast back to the whole struct.
struct JpegErrors {
  jpeg_error_mgr mgr;
  jpeg_decompress_struct cinfo;
  jmp_buf jump;
  bool hit_eof = false;  // libjpeg ran out of data and inserted a fake EOI
  char message[JMSG_LENGTH_MAX] = {0};
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, errors->message);
  std::longjmp(errors->jump, 1);
}

void on_jpeg_message(j_common_ptr cinfo, int level) {
  auto* errors = reinterpret_cast<JpegErrors*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) errors->hit_eof = true;
}

struct JpegDecoded {
  int width = 0;
  int height = 0;
  int components = 0;
  bool too_large = false;
  bool truncated = false;
  std::vector<uint8_t> pixels;  // height * width * components, as libjpeg wrote them
};

J_COLOR_SPACE output_space(int components) {
  return components == 1 ? JCS_GRAYSCALE : components == 3 ? JCS_RGB : JCS_CMYK;
}

// Everything that must survive the longjmp lives in *out and *errors (the caller's frame); the
// locals here have no destructors, so jumping back over the libjpeg frames is well defined.
bool decode(const uint8_t* data, size_t size, JpegDecoded* out, JpegErrors* errors) {
  jpeg_decompress_struct& cinfo = errors->cinfo;
  cinfo.err = jpeg_std_error(&errors->mgr);
  errors->mgr.error_exit = on_jpeg_error;
  errors->mgr.emit_message = on_jpeg_message;
  if (setjmp(errors->jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  out->width = static_cast<int>(cinfo.image_width);
  out->height = static_cast<int>(cinfo.image_height);
  out->components = cinfo.num_components;
  out->too_large = static_cast<int64_t>(out->width) * out->height > kMaxImagePixels;
  if (out->too_large || (out->components != 1 && out->components != 3 && out->components != 4)) {
    std::snprintf(errors->message, sizeof errors->message, "%d colour components (PIL reads 1, 3 or 4)",
                  out->components);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = output_space(out->components);
  jpeg_start_decompress(&cinfo);
  const size_t stride = static_cast<size_t>(out->width) * cinfo.output_components;
  out->pixels.resize(stride * out->height);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out->pixels.data() + stride * cinfo.output_scanline;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);  // reads up to EOI: a file cut after the last row is caught too
  out->truncated = errors->hit_eof;
  jpeg_destroy_decompress(&cinfo);
  return !out->truncated;
}

// PIL's MULDIV255: a * b / 255 rounded to nearest, exactly in integers.
int mul_div_255(int a, int b) {
  const int t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}

Image8 to_rgb(const JpegDecoded& d) {
  Image8 image{d.width, d.height, std::vector<uint8_t>(static_cast<size_t>(d.width) * d.height * 3)};
  const size_t n = static_cast<size_t>(d.width) * d.height;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* px = d.pixels.data() + i * d.components;
    uint8_t* rgb = image.rgb.data() + i * 3;
    if (d.components == 1) {
      rgb[0] = rgb[1] = rgb[2] = px[0];
    } else if (d.components == 3) {
      rgb[0] = px[0], rgb[1] = px[1], rgb[2] = px[2];
    } else {
      const int not_black = px[3];  // inverted K: 255 - ink
      for (int c = 0; c < 3; ++c) rgb[c] = static_cast<uint8_t>(not_black - mul_div_255(255 - px[c], not_black));
    }
  }
  return image;
}

}  // namespace

namespace decoders {

Image8 decode_jpeg_rgb(const uint8_t* data, size_t size, const std::string& name) {
  JpegDecoded d;
  JpegErrors errors;
  const bool ok = decode(data, size, &d, &errors);
  if (d.too_large) check_image_size(d.width, d.height, name);
  DISCO_CHECK(!d.truncated && !errors.hit_eof, CheckpointError, "JPEG image '", name, "' is truncated (its data ends before the ",
              "end-of-image marker); download or export it again.");
  DISCO_CHECK(ok, CheckpointError, "cannot decode JPEG image '", name, "' (libjpeg: ", errors.message,
              "); the file is damaged or not a JPEG PIL reads, re-export it as PNG or JPEG.");
  return to_rgb(d);
}

}  // namespace decoders

#else  // no libjpeg

bool have_jpeg_support() { return false; }

namespace decoders {

Image8 decode_jpeg_rgb(const uint8_t*, size_t, const std::string& name) {
  throw Error("cannot read JPEG image '" + name + "': this build of disco-cpp has no JPEG support (libjpeg was " +
              "not found when it was built); install libjpeg-turbo (apt-get install libjpeg62-turbo-dev) " +
              "and rebuild, or convert the image to PNG.");
}

}  // namespace decoders

#endif

}  // namespace disco::io
