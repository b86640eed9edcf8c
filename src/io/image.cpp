#include "io/image.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <torch/torch.h>

#include "common/error.h"
#include "io/image_decoders.h"

#ifdef DISCO_HAVE_PNG
#include <png.h>
#endif

namespace disco::io {

namespace {

#ifndef DISCO_HAVE_PNG
[[noreturn]] void throw_no_png(const std::string& path) {
  throw Error("cannot handle PNG file '" + path +
              "': this build of disco-cpp has no PNG support (libpng was not found when it was "
              "built); install libpng (e.g. apt-get install libpng-dev) and rebuild.");
}
#else

// libpng reports errors through a callback that must not return: it records the message and
// longjmps back to the setjmp in decode()/encode().
struct PngFailure {
  char message[512] = {0};
};

void on_png_error(png_structp png, png_const_charp msg) {
  auto* failure = static_cast<PngFailure*>(png_get_error_ptr(png));
  std::snprintf(failure->message, sizeof failure->message, "%s", msg);
  png_longjmp(png, 1);
}

// Like PIL, ancillary-chunk problems (bad CRC in a text chunk, unknown sRGB profile) are not fatal.
void on_png_warning(png_structp, png_const_charp) {}

struct Decoded {
  int width = 0;
  int height = 0;
  int channels = 0;        // after expansion: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA
  bool gray16 = false;     // 16-bit gray kept as 2-byte big-endian samples (PIL mode "I")
  bool too_large = false;  // the header's size is over kMaxImagePixels; nothing was decoded
  std::vector<uint8_t> pixels;
  std::vector<png_bytep> rows;
  std::vector<std::pair<std::string, std::string>> text;
};

// The encoded file in memory; libpng pulls from it through read_from_memory().
struct MemorySource {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
};

void read_from_memory(png_structp png, png_bytep out, png_size_t n) {
  auto* src = static_cast<MemorySource*>(png_get_io_ptr(png));
  if (n > src->size - src->pos) png_error(png, "unexpected end of file");
  std::memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

void collect_text(png_structp png, png_infop info, Decoded* out) {
  png_textp text = nullptr;
  int n = 0;
  png_get_text(png, info, &text, &n);
  for (int k = 0; k < n; ++k) {
    size_t len = text[k].compression >= PNG_ITXT_COMPRESSION_NONE ? text[k].itxt_length : text[k].text_length;
    out->text.emplace_back(text[k].key, std::string(text[k].text ? text[k].text : "", len));
  }
}

// PIL's convert("RGB") as libpng transforms: palette -> RGB, gray < 8 bits scaled to 8, tRNS
// becomes an alpha channel that is dropped later, 16-bit samples keep their high byte; no gamma.
// 16-bit gray is the exception: PIL opens it as mode "I" (tRNS ignored) and clips it later.
void set_transforms(png_structp png, png_infop info, Decoded* out) {
  out->gray16 = png_get_color_type(png, info) == PNG_COLOR_TYPE_GRAY && png_get_bit_depth(png, info) == 16;
  if (!out->gray16) {
    png_set_expand(png);
    png_set_strip_16(png);
  }
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
}

// Everything that must survive the longjmp lives in *out and *src (the caller's frame); no local
// here has a destructor, so jumping back over the libpng frames is well defined.
bool decode(MemorySource* src, Decoded* out, PngFailure* failure) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, failure, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(failure->message, sizeof failure->message, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  png_infop end_info = png_create_info_struct(png);
  if (!info || !end_info) {
    png_destroy_read_struct(&png, &info, &end_info);
    std::snprintf(failure->message, sizeof failure->message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, &end_info);
    return false;
  }
  png_set_read_fn(png, src, read_from_memory);
  png_read_info(png, info);
  out->width = static_cast<int>(png_get_image_width(png, info));
  out->height = static_cast<int>(png_get_image_height(png, info));
  if (static_cast<int64_t>(out->width) * out->height > kMaxImagePixels) {
    out->too_large = true;  // the caller throws: no exception may cross the libpng frames
    png_destroy_read_struct(&png, &info, &end_info);
    return false;
  }
  set_transforms(png, info, out);
  out->channels = png_get_channels(png, info);
  size_t row_bytes = png_get_rowbytes(png, info);
  out->pixels.resize(row_bytes * out->height);
  out->rows.resize(out->height);
  for (int y = 0; y < out->height; ++y) out->rows[y] = out->pixels.data() + row_bytes * y;
  png_read_image(png, out->rows.data());
  png_read_end(png, end_info);
  collect_text(png, info, out);
  collect_text(png, end_info, out);
  png_destroy_read_struct(&png, &info, &end_info);
  return true;
}

Decoded decode_bytes(const uint8_t* data, size_t size, const std::string& name) {
  if (size < 8 || png_sig_cmp(data, 0, 8) != 0)
    throw CheckpointError("image '" + name + "' is not a PNG file (it does not start with the PNG signature); "
                          "re-export it as PNG.");
  MemorySource src{data, size, 0};
  Decoded out;
  PngFailure failure;
  bool ok = decode(&src, &out, &failure);
  if (out.too_large) decoders::check_image_size(out.width, out.height, name);
  DISCO_CHECK(ok, CheckpointError, "cannot decode PNG image '", name, "' (libpng: ", failure.message,
              "); the file is truncated or damaged, re-export it.");
  return out;
}

Decoded read_file(const std::string& path) {
  const std::vector<uint8_t> bytes = decoders::read_whole_file(path);
  return decode_bytes(bytes.data(), bytes.size(), path);
}

// The decoded rows as RGB: gray replicated, alpha dropped, 16-bit gray clipped like PIL's "I".
Image8 to_rgb(const Decoded& d) {
  Image8 image;
  image.width = d.width;
  image.height = d.height;
  image.rgb.resize(static_cast<size_t>(d.width) * d.height * 3);
  const int ch = d.channels;
  for (int y = 0; y < d.height; ++y) {
    const uint8_t* row = d.rows[y];
    for (int x = 0; x < d.width; ++x) {
      const uint8_t* px = row + static_cast<size_t>(x) * ch * (d.gray16 ? 2 : 1);
      if (d.gray16) {
        const int v = (px[0] << 8) | px[1];
        for (int c = 0; c < 3; ++c) image.at(y, x, c) = static_cast<uint8_t>(v > 255 ? 255 : v);
        continue;
      }
      bool gray = ch <= 2;
      for (int c = 0; c < 3; ++c) image.at(y, x, c) = gray ? px[0] : px[c];
    }
  }
  return image;
}

bool encode(FILE* file, const Image8& image, png_textp text, int n_text, PngFailure* failure) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, failure, on_png_error, on_png_warning);
  if (!png) {
    std::snprintf(failure->message, sizeof failure->message, "libpng could not start");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_write_struct(&png, nullptr);
    std::snprintf(failure->message, sizeof failure->message, "out of memory");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return false;
  }
  png_init_io(png, file);
  png_set_IHDR(png, info, image.width, image.height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (n_text > 0) png_set_text(png, info, text, n_text);
  png_write_info(png, info);
  for (int y = 0; y < image.height; ++y)
    png_write_row(png, const_cast<png_bytep>(image.rgb.data() + static_cast<size_t>(y) * image.width * 3));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return true;
}

void check_keyword(const std::string& key) {
  bool ok = !key.empty() && key.size() <= 79 && key.front() != ' ' && key.back() != ' ' &&
            key.find("  ") == std::string::npos;
  for (char c : key) ok = ok && c >= 32 && c <= 126;
  DISCO_CHECK(ok, SettingsError, "PNG text key '", key, "' is not valid: use 1 to 79 printable ASCII ",
              "characters without leading, trailing or double spaces.");
}

bool is_plain_ascii(const std::string& s) {
  for (unsigned char c : s)
    if (c >= 0x80 || (c < 32 && c != '\n')) return false;
  return true;
}

// A fresh name next to `path` (same folder, so rename() is atomic), opened exclusively.
FILE* open_temporary(const std::string& path, std::string* tmp_name) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0; attempt < 100; ++attempt) {
    *tmp_name = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
    int fd = ::open(tmp_name->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0) return ::fdopen(fd, "wb");
    if (errno != EEXIST) return nullptr;
  }
  return nullptr;
}

#endif  // DISCO_HAVE_PNG

void check_image(const Image8& image, const char* what) {
  DISCO_CHECK(image.width > 0 && image.height > 0 &&
                  image.rgb.size() == static_cast<size_t>(image.width) * image.height * 3,
              Error, what, ": image of ", image.width, " x ", image.height, " holds ", image.rgb.size(),
              " bytes, expected width * height * 3.");
}

}  // namespace

bool have_png_support() {
#ifdef DISCO_HAVE_PNG
  return true;
#else
  return false;
#endif
}

Image8 read_png(const std::string& path) {
#ifdef DISCO_HAVE_PNG
  return to_rgb(read_file(path));
#else
  throw_no_png(path);
#endif
}

namespace decoders {

Image8 decode_png_rgb(const uint8_t* data, size_t size, const std::string& name) {
#ifdef DISCO_HAVE_PNG
  return to_rgb(decode_bytes(data, size, name));
#else
  (void)data, (void)size;
  throw_no_png(name);
#endif
}

}  // namespace decoders

PngText read_png_text(const std::string& path) {
#ifdef DISCO_HAVE_PNG
  PngText out;
  for (auto& kv : read_file(path).text) out[kv.first] = kv.second;
  return out;
#else
  throw_no_png(path);
#endif
}

void write_png(const std::string& path, const Image8& image, const PngText& text) {
#ifdef DISCO_HAVE_PNG
  check_image(image, ("writing '" + path + "'").c_str());
  std::vector<png_text> chunks;
  for (const auto& kv : text) {
    check_keyword(kv.first);
    DISCO_CHECK(kv.second.find('\0') == std::string::npos, SettingsError, "PNG text '", kv.first,
                "' contains a NUL byte, which PNG text chunks cannot hold.");
    png_text t;
    std::memset(&t, 0, sizeof t);
    t.key = const_cast<char*>(kv.first.c_str());
    t.text = const_cast<char*>(kv.second.c_str());
    if (is_plain_ascii(kv.second)) {
      t.compression = PNG_TEXT_COMPRESSION_NONE;  // tEXt
      t.text_length = kv.second.size();
    } else {
      t.compression = PNG_ITXT_COMPRESSION_NONE;  // iTXt, UTF-8
      t.itxt_length = kv.second.size();
      t.lang = const_cast<char*>("");
      t.lang_key = const_cast<char*>("");
    }
    chunks.push_back(t);
  }
  std::string tmp;
  FILE* file = open_temporary(path, &tmp);
  DISCO_CHECK(file, RuntimeError, "cannot write image '", path, "': ", std::strerror(errno),
              "; check that the folder exists and is writable.");
  PngFailure failure;
  bool ok = encode(file, image, chunks.data(), static_cast<int>(chunks.size()), &failure);
  ok = (std::fflush(file) == 0) && ok;
  int saved_errno = errno;
  ok = (std::fclose(file) == 0) && ok;
  if (ok && std::rename(tmp.c_str(), path.c_str()) != 0) {
    saved_errno = errno;
    ok = false;
    std::snprintf(failure.message, sizeof failure.message, "rename failed: %s", std::strerror(saved_errno));
  }
  if (!ok) {
    std::remove(tmp.c_str());
    throw RuntimeError("cannot write image '" + path + "' (" +
                       (failure.message[0] ? std::string(failure.message) : std::strerror(saved_errno)) +
                       "); check free disk space and permissions.");
  }
#else
  throw_no_png(path);
#endif
}

at::Tensor to_u8_tensor(const Image8& image) {
  check_image(image, "to_u8_tensor");
  return torch::from_blob(const_cast<uint8_t*>(image.rgb.data()), {image.height, image.width, 3}, torch::kUInt8)
      .clone();
}

Image8 from_u8_tensor(const at::Tensor& hwc) {
  DISCO_CHECK(hwc.dim() == 3 && hwc.size(2) == 3 && hwc.scalar_type() == torch::kUInt8, Error,
              "from_u8_tensor: expected a uint8 [H, W, 3] tensor, got ", hwc.sizes(), " ", hwc.scalar_type(), ".");
  auto t = hwc.to(torch::kCPU).contiguous();
  Image8 image;
  image.height = static_cast<int>(t.size(0));
  image.width = static_cast<int>(t.size(1));
  image.rgb.assign(t.data_ptr<uint8_t>(), t.data_ptr<uint8_t>() + t.numel());
  return image;
}

at::Tensor to_tensor_01(const Image8& image) {
  // torchvision: from_numpy -> permute(2, 0, 1).contiguous() -> float -> div(255).
  return to_u8_tensor(image).permute({2, 0, 1}).contiguous().to(torch::kFloat).div(255).unsqueeze(0);
}

at::Tensor to_tensor(const Image8& image) { return to_tensor_01(image).mul(2).sub(1); }

Image8 from_tensor_01(const at::Tensor& x_in) {
  auto x = x_in.dim() == 4 && x_in.size(0) == 1 ? x_in.squeeze(0) : x_in;
  DISCO_CHECK(x.dim() == 3 && x.size(0) == 3 && x.is_floating_point(), Error,
              "expected a float [1, 3, H, W] or [3, H, W] image tensor, got ", x_in.sizes(), ".");
  // to_pil_image: pic.mul(255).byte(), CHW -> HWC.
  auto bytes = x.detach().to(torch::kCPU, torch::kFloat).mul(255).to(torch::kUInt8);
  return from_u8_tensor(bytes.permute({1, 2, 0}));
}

Image8 from_tensor(const at::Tensor& x) {
  // QUIRK(dd-spec §15.2): TF.to_pil_image(x.add(1).div(2).clamp(0, 1)) truncates.
  DISCO_CHECK(x.is_floating_point(), Error, "expected a float image tensor in [-1, 1], got ", x.scalar_type(), ".");
  return from_tensor_01(x.detach().to(torch::kCPU, torch::kFloat).add(1).div(2).clamp(0, 1));
}

}  // namespace disco::io
