// The video writer: DD's frame range (init_frame, last_frame), H.264 yuv420p at fps, atomic
// output, and clear errors; without FFmpeg in the build, the error that says what to install.
#include "io/video.h"

#include <filesystem>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "io/image.h"

namespace {
namespace fs = std::filesystem;
using namespace disco::io;

class VideoTest : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("disco_video_" + std::to_string(::getpid()));
  void SetUp() override {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  void frame(int f, int w = 64, int h = 48) {
    Image8 im{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
    for (size_t i = 0; i < im.rgb.size(); ++i) im.rgb[i] = static_cast<uint8_t>(i * 7 + f * 40);
    char name[64];
    std::snprintf(name, sizeof name, "v(2)_%04d.png", f);
    write_png((dir_ / name).string(), im);
  }
};

TEST_F(VideoTest, DDsFrameRangeAsH264) {
  for (int f = 0; f < 4; ++f) frame(f);
  if (!have_video_support()) {
    EXPECT_THROW(write_video(dir_.string(), "v", 2, {}), disco::RuntimeError);
    GTEST_SKIP() << "built without FFmpeg";
  }
  const std::string path = write_video(dir_.string(), "v", 2, {});
  EXPECT_EQ(fs::path(path).filename(), "v(2).mp4");
  VideoInfo info = probe_video(path);
  EXPECT_EQ(info.frames, 3);  // init_frame 1: frame 0 left out, as DD
  EXPECT_EQ(info.width, 64);
  EXPECT_EQ(info.height, 48);
  EXPECT_EQ(info.codec, "h264");
  EXPECT_EQ(info.pixel_format, "yuv420p");
  EXPECT_NEAR(info.fps, 12, 1e-6);

  VideoOptions o;
  o.init_frame = 0;
  o.last_frame = 1;  // ffmpeg's -frames:v last_frame + 1
  o.fps = 24;
  o.preset = "ultrafast";
  info = probe_video(write_video(dir_.string(), "v", 2, o));
  EXPECT_EQ(info.frames, 2);
  EXPECT_NEAR(info.fps, 24, 1e-6);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.path().extension() != ".png";
  EXPECT_EQ(files, 1) << "a temporary file was left behind";
}

TEST_F(VideoTest, ClearErrors) {
  try {
    write_video(dir_.string(), "v", 2, {});
    ADD_FAILURE() << "no frames, but a video";
  } catch (const disco::SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find("v(2)_0001.png"), std::string::npos) << e.what();
  }
  if (!have_video_support()) GTEST_SKIP() << "built without FFmpeg";
  frame(1);
  frame(2, 32, 32);
  EXPECT_THROW(write_video(dir_.string(), "v", 2, {}), disco::SettingsError);  // sizes differ
  EXPECT_FALSE(fs::exists(dir_ / "v(2).mp4"));
}

}  // namespace
