// io::GifWriter: the GIF read back with giflib's own decoder (frames, size, delays, loop, pixels
// within the palette's rounding), and no file at the path until finish().
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "io/gif.h"

#if __has_include(<gif_lib.h>)
#include <gif_lib.h>
#define GIF_TEST_HAVE_DECODER 1
#endif

namespace {
namespace fs = std::filesystem;

// A smooth gradient over the frame with a bright square whose place depends on `k`.
std::vector<uint8_t> gif_test_frame(int w, int h, int k) {
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
      const bool square = x >= 4 * k && x < 4 * k + 6 && y >= 3 && y < 9;
      p[0] = square ? 250 : static_cast<uint8_t>(x * 255 / (w - 1));
      p[1] = square ? 240 : static_cast<uint8_t>(y * 255 / (h - 1));
      p[2] = static_cast<uint8_t>(40 + 60 * k);
    }
  return rgb;
}

class GifWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!disco::io::have_gif_support()) GTEST_SKIP() << "built without giflib";
    dir_ = fs::temp_directory_path() / ("disco_gif_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  int files_in_dir() const {
    int n = 0;
    for (const auto& e : fs::directory_iterator(dir_)) n += e.is_regular_file();
    return n;
  }
  fs::path dir_;
};

TEST(GifDelay, IsPillowsCentisecondsOfDiscoartsMilliseconds) {
  EXPECT_EQ(disco::io::gif_delay_centiseconds(20), 5);   // 1000 // 20 = 50 ms
  EXPECT_EQ(disco::io::gif_delay_centiseconds(30), 3);   // 33 ms
  EXPECT_EQ(disco::io::gif_delay_centiseconds(1), 100);
  EXPECT_EQ(disco::io::gif_delay_centiseconds(200), 1);  // never 0, which viewers replace by their own
}

#ifdef GIF_TEST_HAVE_DECODER
TEST_F(GifWriterTest, DecodesToTheFramesSizeDelayAndPixels) {
  const int w = 40, h = 24, frames = 3;
  const std::string path = (dir_ / "run-progress.gif").string();
  {
    disco::io::GifWriter gif(path, w, h, /*delay_centiseconds=*/5);
    for (int k = 0; k < frames; ++k) gif.add_frame(gif_test_frame(w, h, k));
    EXPECT_FALSE(fs::exists(path)) << "the GIF appears only when finished";
    gif.finish();
    EXPECT_EQ(gif.frames(), frames);
  }
  EXPECT_EQ(files_in_dir(), 1) << "no temporary file left";

  std::string magic(6, '\0');
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(std::fread(magic.data(), 1, 6, f), 6u);
  std::fclose(f);
  EXPECT_EQ(magic, "GIF89a") << "frame delays and looping need GIF89a";
  int err = 0;
  GifFileType* g = DGifOpenFileName(path.c_str(), &err);
  ASSERT_NE(g, nullptr) << GifErrorString(err);
  ASSERT_EQ(DGifSlurp(g), GIF_OK) << GifErrorString(g->Error);
  EXPECT_EQ(g->SWidth, w);
  EXPECT_EQ(g->SHeight, h);
  ASSERT_EQ(g->ImageCount, frames);
  // The NETSCAPE2.0 block before the first frame: loop count 0, play forever.
  bool loops = false;
  for (int e = 0; e + 1 < g->SavedImages[0].ExtensionBlockCount; ++e) {
    const ExtensionBlock& app = g->SavedImages[0].ExtensionBlocks[e];
    const ExtensionBlock& sub = g->SavedImages[0].ExtensionBlocks[e + 1];
    if (app.Function == APPLICATION_EXT_FUNC_CODE && app.ByteCount == 11 &&
        std::string(reinterpret_cast<char*>(app.Bytes), 11) == "NETSCAPE2.0")
      loops = sub.ByteCount == 3 && sub.Bytes[0] == 1 && sub.Bytes[1] == 0 && sub.Bytes[2] == 0;
  }
  EXPECT_TRUE(loops) << "no NETSCAPE2.0 loop-forever block";
  double worst = 0, total = 0;
  for (int k = 0; k < frames; ++k) {
    SCOPED_TRACE("frame " + std::to_string(k));
    GraphicsControlBlock gcb;
    ASSERT_EQ(DGifSavedExtensionToGCB(g, k, &gcb), GIF_OK);
    EXPECT_EQ(gcb.DelayTime, 5);
    EXPECT_EQ(gcb.TransparentColor, NO_TRANSPARENT_COLOR);
    const SavedImage& im = g->SavedImages[k];
    ASSERT_EQ(im.ImageDesc.Width, w);
    ASSERT_EQ(im.ImageDesc.Height, h);
    ASSERT_NE(im.ImageDesc.ColorMap, nullptr) << "each frame has its own palette";
    const std::vector<uint8_t> want = gif_test_frame(w, h, k);
    for (int i = 0; i < w * h; ++i) {
      const GifColorType c = im.ImageDesc.ColorMap->Colors[im.RasterBits[i]];
      for (int ch = 0; ch < 3; ++ch) {
        const int got = ch == 0 ? c.Red : ch == 1 ? c.Green : c.Blue;
        const double d = std::abs(got - want[3 * i + ch]);
        worst = std::max(worst, d);
        total += d;
      }
    }
  }
  // GifQuantizeBuffer's median cut (5 bits a channel, each pixel given its box's mean) on 960
  // different colours: measured 45 at worst and 5.6 on average; far off would mean wrong indices.
  EXPECT_LE(worst, 48) << "largest difference from the frames written";
  EXPECT_LE(total / (frames * w * h * 3), 7.0) << "mean difference from the frames written";
  DGifCloseFile(g, &err);
}
#endif

TEST_F(GifWriterTest, UnfinishedWriterLeavesNoFile) {
  const std::string path = (dir_ / "cancelled.gif").string();
  {
    disco::io::GifWriter gif(path, 8, 8, 5);
    gif.add_frame(gif_test_frame(8, 8, 0));
  }  // a cancelled run: never finished
  EXPECT_FALSE(fs::exists(path));
  EXPECT_EQ(files_in_dir(), 0) << "the temporary file is removed too";
}

TEST_F(GifWriterTest, RefusesAWrongFrameSizeAndAnEmptyGif) {
  const std::string path = (dir_ / "bad.gif").string();
  disco::io::GifWriter gif(path, 8, 8, 5);
  EXPECT_THROW(gif.add_frame(std::vector<uint8_t>(10)), disco::Error);
  EXPECT_THROW(gif.finish(), disco::RuntimeError);  // no frame
  EXPECT_FALSE(fs::exists(path));
}

TEST_F(GifWriterTest, UnwritableFolderIsOneClearError) {
  try {
    disco::io::GifWriter gif((dir_ / "missing" / "x.gif").string(), 8, 8, 5);
    ADD_FAILURE() << "expected an error";
  } catch (const disco::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("x.gif"), std::string::npos) << e.what();
  }
}

}  // namespace
