// The inputs people get wrong, through the `disco` command (CPU, local test servers, no network):
// a damaged or truncated JPEG, an image far too large, a URL answering 404 or HTML or nothing, a
// YAML file indented with a tab or with an unknown key. Each is one `error:` line naming the file
// or URL, a non-zero exit, and no output folder.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "disco/settings_yaml.h"
#include "io/download.h"
#include "io/image.h"
#include "support/command.h"
#include "support/fixtures.h"
#include "support/tiny_flags.h"
#include "support/http_server.h"

namespace {
namespace fs = std::filesystem;

const std::string kBadInputJpeg = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/images/jpeg_baseline_420.jpg";

class BadInputCli : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("disco_bad_input_cli_" + std::to_string(::getpid()));
  std::vector<std::string> models_;

  void SetUp() override {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    models_ = disco::test::tiny_model_flags(dir_);
    for (const char* s : {"--use-secondary-model", "false", "-W", "64", "-H", "64", "--steps", "8", "--skip-steps", "2"})
      models_.push_back(s);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  std::string write(const std::string& name, const std::string& bytes) const {
    const fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << bytes;
    return p.string();
  }
  // A settings file with one image prompt (weight 1).
  std::string image_prompt_settings(const std::string& image) const {
    return write("image_prompt.json", R"({"image_prompts": {"0": [")" + image + R"(:1"]}})");
  }

  // The run must fail before writing anything: a non-zero exit, one "error: " line that names
  // each of `words`, nothing on stdout, no output folder.
  void expect_refused_input(std::vector<std::string> extra, const std::vector<std::string>& words) const {
    const fs::path out = dir_ / "out";
    extra.insert(extra.end(), models_.begin(), models_.end());
    extra.insert(extra.end(), {"-o", out.string(), "a lighthouse"});
    const auto r = disco::test::run_disco(extra, dir_);
    EXPECT_NE(r.status, 0) << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    for (const auto& w : words) EXPECT_NE(r.err.find(w), std::string::npos) << "should name '" << w << "':\n" << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line expected:\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(out)) << "a refused run wrote " << out;
  }
};

TEST_F(BadInputCli, TruncatedJpegInitImage) {
  if (!disco::io::have_jpeg_support()) GTEST_SKIP() << "built without libjpeg";
  const std::string jpeg = disco::test::read_file(kBadInputJpeg);
  const std::string cut = write("cut.jpg", jpeg.substr(0, jpeg.size() / 2));
  expect_refused_input({"--init-image", cut}, {cut, "truncated"});
}

TEST_F(BadInputCli, CorruptJpegImagePrompt) {
  if (!disco::io::have_jpeg_support()) GTEST_SKIP() << "built without libjpeg";
  std::string jpeg = disco::test::read_file(kBadInputJpeg);
  for (size_t i = 3; i < 40; ++i) jpeg[i] = '\x01';  // no marker after SOI any more
  const std::string bad = write("corrupt.jpg", jpeg);
  expect_refused_input({"--settings", image_prompt_settings(bad)}, {bad, "JPEG"});
}

// 12000 x 9000 in the header of a 5 kB file: refused from the header, before any pixel memory.
TEST_F(BadInputCli, HundredMegapixelImage) {
  if (!disco::io::have_jpeg_support()) GTEST_SKIP() << "built without libjpeg";
  std::string jpeg = disco::test::read_file(kBadInputJpeg);
  const size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  const char size[] = {'\x23', '\x28', '\x2e', '\xe0'};  // SOF0: height 9000, width 12000 (big-endian)
  jpeg.replace(sof + 5, 4, size, 4);
  const std::string huge = write("huge.jpg", jpeg);
  expect_refused_input({"--init-image", huge}, {huge, "12000 x 9000", "megapixels", "downscale"});
}

TEST_F(BadInputCli, UrlAnswering404OrHtml) {
  if (!disco::io::download_supported()) GTEST_SKIP() << "built without libcurl";
  disco::test::HttpServer server;
  server.add("/login", {"<!DOCTYPE html><html><body>Sign in</body></html>", "text/html"});
  const std::string missing = server.url("/gone.jpg"), page = server.url("/login");
  expect_refused_input({"--init-image", missing}, {missing, "404", "check the URL"});
  expect_refused_input({"--settings", image_prompt_settings(page)}, {page, "web page"});
}

TEST_F(BadInputCli, UrlThatNeverAnswers) {
  if (!disco::io::download_supported()) GTEST_SKIP() << "built without libcurl";
  disco::test::SilentServer hanging;
  const std::string url = hanging.url("/slow.jpg");
  expect_refused_input({"--url-timeout", "1", "--init-image", url}, {url, "did not answer in time"});
}

TEST_F(BadInputCli, YamlIndentedWithATab) {
  if (!disco::have_yaml_support()) GTEST_SKIP() << "built without yaml-cpp";
  const std::string yml = write("tab.yml", "steps: 10\ntext_prompts:\n\t- a lighthouse\n");
  expect_refused_input({"--settings", yml}, {yml, "line 3", "tab"});
}

TEST_F(BadInputCli, YamlWithAnUnknownKey) {
  if (!disco::have_yaml_support()) GTEST_SKIP() << "built without yaml-cpp";
  const std::string yml = write("unknown.yml", "steps: 10\nstepz: 12\n");
  expect_refused_input({"--settings", yml}, {yml, "stepz"});
}

}  // namespace

namespace {

// 3D mode's own settings and files (dd-spec §2.5, §11.4): each refused before anything is written.
TEST_F(BadInputCli, ThreeDSettingsAndMissingDepthFiles) {
  const std::vector<std::string> three_d = {"--animation-mode", "3D", "--max-frames", "2", "--frames-scale", "0"};
  const auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.begin(), three_d.begin(), three_d.end());
    return extra;
  };
  expect_refused_input(with({"--midas-depth-model", "dpt_huge"}), {"midas_depth_model", "dpt_large"});
  expect_refused_input(with({"--midas-depth-model", "midas_v21_small"}), {"not built into disco-cpp yet"});
  expect_refused_input(with({"--padding-mode", "wrap"}), {"padding_mode", "border, reflection, zeros"});
  expect_refused_input(with({"--warp-sampling-mode", "area"}), {"sampling_mode", "bicubic, bilinear, nearest"});
  expect_refused_input(with({"--near-plane", "500", "--far-plane", "400"}), {"near_plane", "far_plane"});
  expect_refused_input(with({"--fov", "180"}), {"fov", "(0, 180)"});
  expect_refused_input(with({"--midas-weight", "0"}), {"midas_weight", "> 0"});
  const std::string missing = (dir_ / "dpt_large-midas-2f21e586.pt").string();
  expect_refused_input(with({"--midas", missing}), {missing});
  const std::string midas = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/midas/tiny_dpt.pt";
  expect_refused_input(with({"--midas", midas, "--adabins", missing}), {missing});
}

// A 3D run through the command line with the tiny fixture depth models: the frames and the VR
// views DD writes; turbo and VR in a still run are turned off with a note each.
TEST_F(BadInputCli, ThreeDRunAndTurboOutsideThreeD) {
  const fs::path out = dir_ / "out3d";
  std::vector<std::string> args = {"--animation-mode", "3D", "--max-frames", "2", "--frames-scale", "0",
                                   "--batch-name", "D", "--vr-mode", "--translation-z", "0: (20)",
                                   "--midas", std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/midas/tiny_dpt.pt",
                                   "--adabins", std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/adabins/tiny_adabins.pt",
                                   "-o", out.string(), "a canyon"};
  args.insert(args.end(), models_.begin(), models_.end());
  const auto r = disco::test::run_disco(args, dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* f : {"D(0)_0000.png", "D(0)_0001.png", "frame_0000_l.png", "frame_0001_r.png"})
    EXPECT_TRUE(fs::exists(out / f)) << f << "\n" << r.err;
  EXPECT_NE(r.err.find("frame 1: depth estimate and 3D warp"), std::string::npos) << r.err;

  std::vector<std::string> still = {"--turbo-mode", "--vr-mode", "--n-batches", "1", "-o", (dir_ / "still").string(),
                                    "a canyon"};
  still.insert(still.end(), models_.begin(), models_.end());
  const auto s = disco::test::run_disco(still, dir_);
  ASSERT_EQ(s.status, 0) << s.err;
  EXPECT_NE(s.err.find("turbo_mode is for 3D animations only"), std::string::npos) << s.err;
  EXPECT_NE(s.err.find("vr_mode is for 3D animations only"), std::string::npos) << s.err;
}

}  // namespace
