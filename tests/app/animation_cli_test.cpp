// `disco --animation-mode 2D`, `--resume`, `--video` and `disco video` end to end on the tiny
// fixture models (CPU): the frames, a resumed run that extends them, the mp4, and clear errors.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "disco/disco.h"
#include "io/image.h"
#include "support/command.h"
#include "support/fixtures.h"
#include "support/tiny_flags.h"

namespace {
namespace fs = std::filesystem;

using disco::test::run_disco;

class AnimationCli : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("disco_anim_cli_" + std::to_string(::getpid()));
  fs::path out_ = dir_ / "anim";
  std::vector<std::string> models_;

  void SetUp() override {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    models_ = disco::test::tiny_model_flags(dir_);
    for (const std::string& s : {std::string("-o"), out_.string(), std::string("--batch-name"), std::string("river")})
      models_.push_back(s);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }
  std::vector<std::string> with_models(std::vector<std::string> a) const {
    a.insert(a.end(), models_.begin(), models_.end());
    return a;
  }
};

TEST_F(AnimationCli, FramesResumeAndVideo) {
  const bool video = disco::io::have_video_support();
  std::vector<std::string> first = {"--animation-mode", "2D", "--max-frames", "3", "--zoom", "0: (1.1)",
                                    "--translation-x", "0: (1.5)", "--frames-skip-steps", "50%", "--frames-scale", "0",
                                    "-W", "64", "-H", "64", "--steps", "8", "--skip-steps", "2", "--cutn-batches", "1",
                                    "--use-secondary-model", "false", "-s", "42", "a river in a canyon:1"};
  if (video) first.push_back("--video");
  const auto r = run_disco(with_models(first), dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"river(0)_0000.png", "river(0)_0001.png", "river(0)_0002.png"})
    EXPECT_TRUE(fs::exists(out_ / f)) << f;
  EXPECT_NE(r.err.find("2D animation, 3 frames"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("frame 3/3"), std::string::npos) << r.err;

  // --resume: the run's own settings, one more frame, same run number.
  const auto resumed = run_disco(with_models({"--resume", "--max-frames", "4"}), dir_);
  ASSERT_EQ(resumed.status, 0) << resumed.err;
  EXPECT_TRUE(fs::exists(out_ / "river(0)_0003.png"));
  EXPECT_FALSE(fs::exists(out_ / "river(1)_settings.txt"));
  EXPECT_NE(resumed.err.find("resuming run 0 at frame 3 of 4"), std::string::npos) << resumed.err;

  // --from a frame: its frames 0..f made again, into a new run, with the same bytes.
  std::vector<std::string> from = {"--from", (out_ / "river(0)_0002.png").string()};
  for (size_t i = 0; i + 1 < models_.size(); ++i)
    if (models_[i] != "-o" && (i == 0 || models_[i - 1] != "-o")) from.push_back(models_[i]);
  from.push_back(models_.back());
  from.insert(from.end(), {"-o", (dir_ / "again").string()});
  const auto remade = run_disco(from, dir_);
  ASSERT_EQ(remade.status, 0) << remade.err;
  EXPECT_FALSE(fs::exists(dir_ / "again" / "river(0)_0003.png"));
  for (const char* f : {"river(0)_0000.png", "river(0)_0002.png"})
    EXPECT_EQ(disco::io::read_png((dir_ / "again" / f).string()).rgb, disco::io::read_png((out_ / f).string()).rgb) << f;

  if (!video) {
    const auto v = run_disco({"video", out_.string()}, dir_);
    EXPECT_NE(v.status, 0);
    EXPECT_NE(v.err.find("without video support"), std::string::npos) << v.err;
    GTEST_SKIP() << "built without FFmpeg: the video checks need it";
  }
  const auto info = disco::io::probe_video((out_ / "river(0).mp4").string());
  EXPECT_EQ(info.frames, 2);  // DD's init_frame 1: frames 1 and 2
  const auto v = run_disco({"video", out_.string()}, dir_);
  ASSERT_EQ(v.status, 0) << v.err;
  EXPECT_NE(v.out.find("river(0).mp4"), std::string::npos) << v.out;
  const auto again = disco::io::probe_video((out_ / "river(0).mp4").string());
  EXPECT_EQ(again.frames, 3);  // frames 1..3 after the resume
  EXPECT_EQ(again.width, 64);
  EXPECT_EQ(again.codec, "h264");
  EXPECT_EQ(again.pixel_format, "yuv420p");
  EXPECT_NEAR(again.fps, 12, 1e-6);
}

TEST_F(AnimationCli, BadInputIsOneErrorLineAndWritesNothing) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--animation-mode", "2D", "--zoom", "zoom in please", "a"},
           {"--animation-mode", "2D", "--frames-skip-steps", "100%", "a"},
           {"--animation-mode", "2D", "--max-frames", "0", "a"},
           {"--animation-mode", "Video Input", "a"},
           {"--resume"}}) {
    const auto r = run_disco(with_models(args), dir_);
    EXPECT_NE(r.status, 0) << args[1];
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line expected:\n" << r.err;
    EXPECT_FALSE(fs::exists(out_)) << args[1];
  }
}

}  // namespace
