// `disco --gif` end to end on the tiny fixture models (CPU): one GIF of the progress images beside
// each image (and each animation frame), listed on stdout, read back with giflib's decoder.
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "io/gif.h"
#include "io/image.h"
#include "io/pil_resize.h"
#include "support/command.h"
#include "support/fixtures.h"
#include "support/tiny_flags.h"

#if __has_include(<gif_lib.h>)
#include <gif_lib.h>
#define GIF_CLI_TEST_HAVE_DECODER 1
#endif

namespace {
namespace fs = std::filesystem;

using disco::test::run_disco;

// A decoded GIF: its size, frames (RGB) and per-frame delays.
struct DecodedGif {
  int width = 0, height = 0;
  std::vector<std::vector<uint8_t>> frames;
  std::vector<int> delays;
};

#ifdef GIF_CLI_TEST_HAVE_DECODER
DecodedGif decode_gif_for_cli_test(const fs::path& path) {
  DecodedGif out;
  int err = 0;
  GifFileType* g = DGifOpenFileName(path.c_str(), &err);
  if (!g) return out;
  if (DGifSlurp(g) == GIF_OK) {
    out.width = g->SWidth;
    out.height = g->SHeight;
    for (int k = 0; k < g->ImageCount; ++k) {
      const SavedImage& im = g->SavedImages[k];
      const ColorMapObject* map = im.ImageDesc.ColorMap ? im.ImageDesc.ColorMap : g->SColorMap;
      std::vector<uint8_t> rgb;
      for (int i = 0; map && i < im.ImageDesc.Width * im.ImageDesc.Height; ++i) {
        const GifColorType c = map->Colors[im.RasterBits[i]];
        rgb.insert(rgb.end(), {c.Red, c.Green, c.Blue});
      }
      out.frames.push_back(std::move(rgb));
      GraphicsControlBlock gcb{};
      DGifSavedExtensionToGCB(g, k, &gcb);
      out.delays.push_back(gcb.DelayTime);
    }
  }
  DGifCloseFile(g, &err);
  return out;
}
#endif

class GifCli : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("disco_gif_cli_" + std::to_string(::getpid()));
  std::vector<std::string> models_;

  void SetUp() override {
    if (!disco::io::have_gif_support()) GTEST_SKIP() << "built without giflib";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    models_ = disco::test::tiny_model_flags(dir_);
    for (const char* s : {"--use-secondary-model", "false", "-W", "64", "-H", "64", "--steps", "8", "--skip-steps", "2",
                          "--cutn-batches", "1", "-s", "7", "--display-rate", "2", "--gif"})
      models_.push_back(s);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  disco::test::CommandResult run(std::vector<std::string> extra) const {
    extra.insert(extra.end(), models_.begin(), models_.end());
    return run_disco(extra, dir_);
  }
  static int files_in(const fs::path& folder, const std::string& ext) {
    int n = 0;
    for (const auto& e : fs::recursive_directory_iterator(folder)) n += e.path().extension() == ext;
    return n;
  }
};

// Loop steps j = 0..5 (8 steps, 2 skipped), progress at j = 0, 2, 4 and the last: four frames.
TEST_F(GifCli, OneGifOfTheProgressBesideEachImage) {
  const fs::path out = dir_ / "still";
  const auto r = run({"-o", out.string(), "--batch-name", "g", "--n-batches", "2", "--gif-fps", "10",
                      "--gif-size-ratio", "0.5", "a lighthouse:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (int i = 0; i < 2; ++i) {
    const fs::path gif = out / ("g(0)_" + std::to_string(i) + "-progress.gif");
    SCOPED_TRACE(gif.string());
    ASSERT_TRUE(fs::exists(gif)) << r.out;
    EXPECT_NE(r.out.find(gif.string() + "\n"), std::string::npos) << "stdout lists the GIF:\n" << r.out;
#ifdef GIF_CLI_TEST_HAVE_DECODER
    const DecodedGif g = decode_gif_for_cli_test(gif);
    EXPECT_EQ(g.width, 32);
    EXPECT_EQ(g.height, 32);
    ASSERT_EQ(g.frames.size(), 4u);
    EXPECT_EQ(g.delays, (std::vector<int>{10, 10, 10, 10}));  // 1000 // 10 ms
    // The last frame is the final image at half size, within the 256-colour palette's rounding
    // (giflib's median cut on these 1024 noise-like colours: 8.5 on average, measured), and far
    // nearer to it than the first frame, the noisy start.
    const auto final_image = disco::io::read_png((out / ("g(0)_" + std::to_string(i) + ".png")).string());
    const auto want = disco::io::resize_lanczos(final_image, 32, 32).rgb;
    const auto mean_difference = [&](const std::vector<uint8_t>& frame) {
      double total = 0;
      for (size_t k = 0; k < want.size(); ++k) total += std::abs(int(want[k]) - int(frame[k]));
      return total / want.size();
    };
    EXPECT_LE(mean_difference(g.frames.back()), 12.0) << "mean difference of the last frame from the final image";
    EXPECT_GT(mean_difference(g.frames.front()), 2 * mean_difference(g.frames.back()));
#endif
  }
  EXPECT_EQ(files_in(out, ".gif"), 2);
  for (const auto& e : fs::recursive_directory_iterator(out))
    EXPECT_EQ(e.path().string().find(".tmp"), std::string::npos) << "left behind: " << e.path();
  const auto settings = nlohmann::json::parse(disco::test::read_file(out / "g(0)_settings.txt"));
  EXPECT_EQ(settings.at("gif"), true);
  EXPECT_EQ(settings.at("gif_fps"), 10);
  EXPECT_EQ(settings.at("gif_size_ratio"), 0.5);
}

// In an animation each frame is an image: one GIF per frame, named by the frame.
TEST_F(GifCli, EachAnimationFrameHasItsGif) {
  const fs::path out = dir_ / "anim";
  const auto r = run({"-o", out.string(), "--batch-name", "a", "--animation-mode", "2D", "--max-frames", "2",
                      "--frames-skip-steps", "50%", "--frames-scale", "0", "--gif-size-ratio", "1", "a river:1"});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* name : {"a(0)_0000-progress.gif", "a(0)_0001-progress.gif"}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(fs::exists(out / name)) << r.out;
#ifdef GIF_CLI_TEST_HAVE_DECODER
    const DecodedGif g = decode_gif_for_cli_test(out / name);
    EXPECT_EQ(g.width, 64);
    EXPECT_FALSE(g.frames.empty());
    EXPECT_EQ(g.delays.front(), 5);  // gif_fps 20, discoart's default
#endif
  }
  EXPECT_EQ(files_in(out, ".gif"), 2);
}

TEST_F(GifCli, BadGifSettingsAreOneErrorAndWriteNothing) {
  struct Bad {
    const char *flag, *value, *key;
  };
  for (const Bad& bad : {Bad{"--gif-fps", "0", "gif_fps"}, Bad{"--gif-size-ratio", "1.5", "gif_size_ratio"}}) {
    SCOPED_TRACE(bad.flag);
    const fs::path out = dir_ / "refused";
    const auto r = run({"-o", out.string(), bad.flag, bad.value, "a"});
    EXPECT_NE(r.status, 0) << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(bad.key), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_FALSE(fs::exists(out));
  }
}

}  // namespace
