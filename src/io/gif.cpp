// io::GifWriter: animated GIFs with giflib (gif.h).
#include "io/gif.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "common/error.h"

#ifdef DISCO_HAVE_GIF
#include <gif_lib.h>
#endif

namespace disco::io {

int gif_delay_centiseconds(int fps) { return std::max(1, fps > 0 ? 1000 / fps / 10 : 0); }

#ifdef DISCO_HAVE_GIF

bool have_gif_support() { return true; }

struct GifWriter::File {
  GifFileType* gif = nullptr;
  ~File() {
    if (gif) EGifCloseFile(gif, nullptr);
  }
};

namespace {

[[noreturn]] void gif_failed(const std::string& path, const char* what, int code) {
  const char* reason = GifErrorString(code);
  throw RuntimeError(detail::concat("cannot write the GIF '", path, "' (", what, ": ", reason ? reason : "unknown error",
                                    "); check that the folder is writable and the disk is not full."));
}

// The NETSCAPE2.0 application extension with a loop count of 0: play forever, as Pillow's loop=0.
bool put_loop_forever(GifFileType* gif) {
  static const GifByteType kLoopForever[3] = {1, 0, 0};  // sub-block id 1, then the count (little-endian)
  return EGifPutExtensionLeader(gif, APPLICATION_EXT_FUNC_CODE) == GIF_OK &&
         EGifPutExtensionBlock(gif, 11, "NETSCAPE2.0") == GIF_OK &&
         EGifPutExtensionBlock(gif, 3, kLoopForever) == GIF_OK && EGifPutExtensionTrailer(gif) == GIF_OK;
}

// The frame's graphic control extension: its duration; frames are opaque and replace the last.
bool put_frame_delay(GifFileType* gif, int delay_cs) {
  GraphicsControlBlock gcb{};
  gcb.DisposalMode = DISPOSE_DO_NOT;
  gcb.UserInputFlag = false;
  gcb.DelayTime = delay_cs;
  gcb.TransparentColor = NO_TRANSPARENT_COLOR;
  GifByteType ext[4];
  const size_t n = EGifGCBToExtension(&gcb, ext);
  return EGifPutExtension(gif, GRAPHICS_EXT_FUNC_CODE, static_cast<int>(n), ext) == GIF_OK;
}

}  // namespace

GifWriter::GifWriter(const std::string& path, int width, int height, int delay_centiseconds)
    : path_(path), tmp_(path + ".tmp" + std::to_string(::getpid())), width_(width), height_(height),
      delay_cs_(delay_centiseconds) {
  DISCO_CHECK(width > 0 && height > 0 && width <= 65535 && height <= 65535, Error, "a GIF is 1 to 65535 pixels a side, "
              "not ", width, " x ", height, " ('", path, "').");
  // Opened here, not by EGifOpenFileName, which creates files readable by their owner only.
  const int fd = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0666);
  DISCO_CHECK(fd >= 0, RuntimeError, "cannot write the GIF '", path, "': ", std::strerror(errno),
              "; check that the folder is writable.");
  int code = 0;
  file_ = std::make_unique<File>();
  file_->gif = EGifOpenFileHandle(fd, &code);  // owns fd from here; it fails only before taking it
  if (!file_->gif) {
    ::close(fd);
    std::remove(tmp_.c_str());
    gif_failed(path, "opening", code);
  }
  EGifSetGifVersion(file_->gif, true);  // GIF89a: the frame delays and the loop need it
  // No global palette: every frame carries its own.
  if (EGifPutScreenDesc(file_->gif, width, height, 8, 0, nullptr) != GIF_OK || !put_loop_forever(file_->gif)) {
    code = file_->gif->Error;
    file_.reset();
    std::remove(tmp_.c_str());
    gif_failed(path, "header", code);
  }
}

GifWriter::~GifWriter() {
  if (!file_) return;  // finished (or failed and cleaned up)
  file_.reset();
  std::remove(tmp_.c_str());
}

void GifWriter::add_frame(const std::vector<uint8_t>& rgb) {
  const size_t n = static_cast<size_t>(width_) * height_;
  DISCO_CHECK(rgb.size() == n * 3, Error, "a GIF frame of ", width_, " x ", height_, " needs ", n * 3,
              " bytes, not ", rgb.size(), ".");
  DISCO_CHECK(file_, RuntimeError, "the GIF '", path_, "' is already finished.");
  std::vector<GifByteType> r(n), g(n), b(n), index(n);
  for (size_t i = 0; i < n; ++i) {
    r[i] = rgb[3 * i];
    g[i] = rgb[3 * i + 1];
    b[i] = rgb[3 * i + 2];
  }
  GifColorType palette[256] = {};
  int colours = 256;
  GifFileType* gif = file_->gif;
  if (GifQuantizeBuffer(width_, height_, &colours, r.data(), g.data(), b.data(), index.data(), palette) != GIF_OK)
    throw RuntimeError(detail::concat("cannot make the palette of a frame of the GIF '", path_, "' (out of memory?)."));
  ColorMapObject* map = GifMakeMapObject(256, palette);  // unused entries stay black
  DISCO_CHECK(map, RuntimeError, "cannot make the palette of a frame of the GIF '", path_, "' (out of memory?).");
  bool ok = put_frame_delay(gif, delay_cs_) && EGifPutImageDesc(gif, 0, 0, width_, height_, false, map) == GIF_OK;
  GifFreeMapObject(map);  // EGifPutImageDesc keeps its own copy
  for (int y = 0; ok && y < height_; ++y)
    ok = EGifPutLine(gif, index.data() + static_cast<size_t>(y) * width_, width_) == GIF_OK;
  if (!ok) gif_failed(path_, "frame", gif->Error);
  ++frames_;
}

void GifWriter::finish() {
  DISCO_CHECK(file_, RuntimeError, "the GIF '", path_, "' is already finished.");
  DISCO_CHECK(frames_ > 0, RuntimeError, "the GIF '", path_, "' has no frame.");
  int code = 0;
  const int rc = EGifCloseFile(file_->gif, &code);  // frees the handle whatever it returns
  file_->gif = nullptr;
  file_.reset();
  if (rc != GIF_OK) {
    std::remove(tmp_.c_str());
    gif_failed(path_, "closing", code);
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    std::remove(tmp_.c_str());
    throw RuntimeError(detail::concat("cannot write the GIF '", path_, "': ", reason, "."));
  }
}

#else  // no giflib

bool have_gif_support() { return false; }

struct GifWriter::File {};

GifWriter::GifWriter(const std::string& path, int width, int height, int delay_centiseconds)
    : path_(path), width_(width), height_(height), delay_cs_(delay_centiseconds) {
  throw RuntimeError(detail::concat("cannot write '", path, "': this disco was built without GIF support; install ",
                                    "libgif-dev and build again."));
}
GifWriter::~GifWriter() = default;
void GifWriter::add_frame(const std::vector<uint8_t>&) {}
void GifWriter::finish() {}

#endif

}  // namespace disco::io
