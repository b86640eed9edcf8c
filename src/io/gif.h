// Animated GIFs of a run's progress images, as discoart writes them (docarray's save_gif: every
// frame the same duration, looping forever), encoded with giflib: each frame quantised to its own
// 256-colour palette (GifQuantizeBuffer's median cut) and LZW-compressed by EGifPutLine. giflib
// is an optional component; without it have_gif_support() is false and GifWriter throws.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace disco::io {

bool have_gif_support();

// The frame duration of `fps` frames per second in GIF's unit (1/100 s), as Pillow's GIF writer
// stores discoart's duration=1000 // fps milliseconds: int(ms / 10), here at least 1.
int gif_delay_centiseconds(int fps);

// Writes the frames as they come, so a long run holds one frame in memory, not all of them.
// The file is written under a temporary name in the target folder and renamed to `path` by
// finish(); a writer destroyed before finish() (a cancelled or failed run) removes it, so no
// partial GIF is ever left at `path`.
class GifWriter {
 public:
  // Throws RuntimeError when the file cannot be created or the build has no GIF support.
  GifWriter(const std::string& path, int width, int height, int delay_centiseconds);
  ~GifWriter();
  GifWriter(const GifWriter&) = delete;
  GifWriter& operator=(const GifWriter&) = delete;

  // One frame: row-major RGB, width * height * 3 bytes. Throws Error for a wrong size,
  // RuntimeError when writing fails.
  void add_frame(const std::vector<uint8_t>& rgb);
  // Completes the file and renames it to `path`. Throws RuntimeError (and removes it) on failure
  // or when no frame was added.
  void finish();

  int frames() const { return frames_; }
  const std::string& path() const { return path_; }

 private:
  struct File;  // giflib's handle, closed by its deleter
  std::string path_, tmp_;
  int width_, height_, delay_cs_;
  int frames_ = 0;
  std::unique_ptr<File> file_;
};

}  // namespace disco::io
