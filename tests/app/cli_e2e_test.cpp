// The `disco` command end to end on the tiny fixture models (CPU, no network): files written,
// settings embedded, reproducibility, --from, and clear errors that write nothing.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "io/image.h"
#include "support/command.h"
#include "support/fixtures.h"

namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

using Result = disco::test::CommandResult;
using disco::test::read_file;

using disco::test::run_disco;

// Fixture models, written once per test program into a private folder.
class CliE2E : public ::testing::Test {
 protected:
  static fs::path dir_;
  static std::vector<std::string> model_args_;
  // The two seed-42 runs, made on first use (ctest runs every test in its own process).
  static const Result& first() {
    static const Result r = run_disco(run_args(dir_ / "a"), dir_);
    return r;
  }
  static const Result& second() {
    static const Result r = run_disco(run_args(dir_ / "b"), dir_);
    return r;
  }

  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("disco_cli_e2e_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const fs::path config = dir_ / "cfgA.json";
    std::ofstream(config) << disco::test::manifest().at("unet").at("cfgA").at("model_config").dump(2);
    model_args_ = {"--model-config", config.string(),
                   "--clip", disco::test::fixture_path("clip_vit_tiny.pt"),
                   "--vocab", disco::test::shared_dir() + "/data/bpe_simple_vocab_16e6.txt.gz",
                   "--use-secondary-model", "false", "--device", "cpu"};
  }
  static void TearDownTestSuite() {
    if (!::testing::Test::HasFailure()) fs::remove_all(dir_);
  }

  // 64x64, 8 steps (2 skipped: the loop has 6), 2 images, progress every 2 steps.
  static std::vector<std::string> run_args(const fs::path& out) {
    std::vector<std::string> a = {"--model", disco::test::fixture_path("unet_cfgA.pt")};
    a.insert(a.end(), model_args_.begin(), model_args_.end());
    for (const char* s : {"-W", "64", "-H", "64", "--steps", "8", "--skip-steps", "2", "--n-batches", "2",
                          "--display-rate", "2", "--cutn-batches", "1", "-s", "42", "--batch-name", "e2e",
                          "--intermediate-saves", "[1,3]"})
      a.push_back(s);
    a.push_back("-o");
    a.push_back(out.string());
    a.push_back("a lighthouse in a storm:2");
    a.push_back("blurry:-0.5");
    return a;
  }

  // A run that must fail before writing anything: exit status != 0, an "error: " line naming
  // `expect`, and no output folder.
  static void expect_refused(std::vector<std::string> extra, const std::string& expect, bool with_model = true) {
    const fs::path out = dir_ / "refused";
    fs::remove_all(out);
    std::vector<std::string> a = model_args_;
    if (with_model) {
      a.push_back("--model");
      a.push_back(disco::test::fixture_path("unet_cfgA.pt"));
    }
    for (const char* s : {"-W", "64", "-H", "64", "--steps", "8", "--skip-steps", "2", "--n-batches", "1", "-o"})
      a.push_back(s);
    a.push_back(out.string());
    a.insert(a.end(), extra.begin(), extra.end());
    const Result r = run_disco(a, dir_);
    EXPECT_NE(r.status, 0) << r.err;
    EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(expect), std::string::npos) << "stderr should mention '" << expect << "':\n" << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line expected:\n" << r.err;
    EXPECT_FALSE(fs::exists(out)) << "a refused run wrote " << out;
    EXPECT_TRUE(r.out.empty()) << r.out;
  }
};
fs::path CliE2E::dir_;
std::vector<std::string> CliE2E::model_args_;

TEST_F(CliE2E, WritesImagesSettingsAndProgress) {
  const Result& first_ = first();
  ASSERT_EQ(first_.status, 0) << first_.err;
  const fs::path out = dir_ / "a";
  for (const char* name : {"e2e(0)_0.png", "e2e(0)_1.png"}) {
    SCOPED_TRACE(name);
    const auto image = disco::io::read_png((out / name).string());
    EXPECT_EQ(image.width, 64);
    EXPECT_EQ(image.height, 64);
    EXPECT_NE(first_.out.find((out / name).string()), std::string::npos) << "stdout lists the image:\n" << first_.out;
    const auto text = disco::io::read_png_text((out / name).string());
    ASSERT_TRUE(text.count("disco-settings"));
    const json s = json::parse(text.at("disco-settings"));
    EXPECT_EQ(s.at("seed"), 42);
    EXPECT_EQ(s.at("steps"), 8);
    EXPECT_EQ(s.at("width"), 64);
    EXPECT_EQ(s.at("text_prompts").at("0").at(0), "a lighthouse in a storm:2");
    ASSERT_TRUE(text.count("parameters"));
    EXPECT_EQ(text.at("parameters").rfind("a lighthouse in a storm:2\nNegative prompt: blurry:-0.5\nSteps: 8", 0), 0u)
        << text.at("parameters");
  }
  const json settings = json::parse(read_file(out / "e2e(0)_settings.txt"));
  EXPECT_EQ(settings.at("seed"), 42);
  EXPECT_EQ(settings.at("n_batches"), 2);
  EXPECT_EQ(settings.at("use_secondary_model"), false);
  // progress.png is the last step's image; intermediates at loop steps 1 and 3 of each image.
  EXPECT_EQ(read_file(out / "progress.png").empty(), false);
  EXPECT_EQ(disco::io::read_png((out / "progress.png").string()).rgb, disco::io::read_png((out / "e2e(0)_1.png").string()).rgb);
  for (const char* name : {"e2e(0)_0000-001.png", "e2e(0)_0000-003.png", "e2e(0)_0001-001.png", "e2e(0)_0001-003.png"})
    EXPECT_TRUE(fs::exists(out / "partials" / name)) << name;
  // Nothing else: no temporary files left behind.
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(out)) files += e.is_regular_file();
  EXPECT_EQ(files, 2 + 1 + 1 + 4);
  // Summary first, timings last, on stderr.
  EXPECT_EQ(first_.err.find("disco: custom"), first_.err.find("disco:")) << first_.err;
  EXPECT_NE(first_.err.find("64x64 | 8 steps (skip 2)"), std::string::npos) << first_.err;
  EXPECT_NE(first_.err.find("seed 42 | cpu | fp32"), std::string::npos) << first_.err;
  EXPECT_NE(first_.err.rfind("done: 2 images"), std::string::npos) << first_.err;
}

TEST_F(CliE2E, SameSeedGivesByteIdenticalPngs) {
  ASSERT_EQ(first().status, 0) << first().err;
  ASSERT_EQ(second().status, 0) << second().err;
  for (const char* name : {"e2e(0)_0.png", "e2e(0)_1.png", "e2e(0)_settings.txt"}) {
    const std::string a = read_file(dir_ / "a" / name), b = read_file(dir_ / "b" / name);
    EXPECT_FALSE(a.empty()) << name;
    EXPECT_TRUE(a == b) << name << " differs between two runs with seed 42";
  }
  // The two images of a run differ (one random stream, advanced by the first image).
  EXPECT_NE(disco::io::read_png((dir_ / "a" / "e2e(0)_0.png").string()).rgb,
            disco::io::read_png((dir_ / "a" / "e2e(0)_1.png").string()).rgb);
}

TEST_F(CliE2E, FromRemakesTheImage) {
  ASSERT_EQ(first().status, 0) << first().err;
  const fs::path source = dir_ / "a" / "e2e(0)_1.png";
  std::vector<std::string> a = {"--from", source.string(), "-o", (dir_ / "c").string()};
  a.insert(a.end(), model_args_.begin(), model_args_.end());  // the UNet comes from the recorded custom_path
  const Result r = run_disco(a, dir_);
  ASSERT_EQ(r.status, 0) << r.err;
  const fs::path remade = dir_ / "c" / "e2e(0)_1.png";
  ASSERT_TRUE(fs::exists(remade)) << r.out << r.err;
  EXPECT_EQ(disco::io::read_png(remade.string()).rgb, disco::io::read_png(source.string()).rgb);
  EXPECT_EQ(disco::io::read_png_text(remade.string()).at("disco-settings"),
            disco::io::read_png_text(source.string()).at("disco-settings"));
}

TEST_F(CliE2E, UnknownSettingInFileIsRefused) {
  const fs::path file = dir_ / "unknown.json";
  std::ofstream(file) << R"({"stepz": 10})";
  expect_refused({"--settings", file.string(), "a"}, "stepz");
}

TEST_F(CliE2E, BadScheduleStringIsRefused) {
  const fs::path file = dir_ / "schedule.json";
  std::ofstream(file) << R"({"cut_overview": "[12]*400+[4]*"})";
  expect_refused({"--settings", file.string(), "a"}, "cut_overview");
}

TEST_F(CliE2E, PromptOverContextLengthIsRefused) {
  std::string long_prompt;
  for (int i = 0; i < 80; ++i) long_prompt += "lighthouse ";
  expect_refused({long_prompt}, "too long");
}

TEST_F(CliE2E, WeightsSummingToZeroAreRefused) { expect_refused({"a storm:1", "a lighthouse:-1"}, "weights"); }

TEST_F(CliE2E, MissingInitImageIsRefused) {
  expect_refused({"--init-image", (dir_ / "nope.png").string(), "a"}, "nope.png");
}

TEST_F(CliE2E, UnreadableImageIsRefused) {
  const fs::path bad = dir_ / "bad.png";
  std::ofstream(bad) << "this is not a PNG file";
  expect_refused({"--init-image", bad.string(), "a"}, "bad.png");
}

TEST_F(CliE2E, WidthZeroIsRefused) { expect_refused({"-W", "0", "a"}, "width"); }

TEST_F(CliE2E, MissingModelFileIsRefused) {
  expect_refused({"--model", (dir_ / "missing.pt").string(), "a"}, "missing.pt", /*with_model=*/false);
}

// An OpenCLIP model whose file is not in the model folder: a run never downloads one, so it stops
// before loading anything, with one line naming the file and the command that fetches it.
TEST_F(CliE2E, OpenClipModelWithoutItsFileIsRefused) {
  const fs::path out = dir_ / "refused_openclip", models = dir_ / "no_models";
  fs::remove_all(out);
  fs::create_directories(models);
  std::vector<std::string> a = {"--model", disco::test::fixture_path("unet_cfgA.pt")};
  for (size_t i = 0; i < model_args_.size(); ++i) {
    if (model_args_[i] == "--clip") {  // the OpenCLIP model is the only CLIP model
      ++i;
      continue;
    }
    a.push_back(model_args_[i]);
  }
  for (const std::string& s : std::vector<std::string>{"--clip-models", "ViT-B-32::laion2b_e16", "--models-dir",
                                                        models.string(), "-W", "64", "-H", "64", "--steps", "8", "--skip-steps", "2", "-o",
                                                        out.string(), "a lighthouse"})
    a.push_back(s);
  const Result r = run_disco(a, dir_);
  EXPECT_NE(r.status, 0) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "one line expected:\n" << r.err;
  for (const char* s : {"vit_b_32-laion2b_e16-af8dbd0c.pth", "disco models fetch ViT-B-32::laion2b_e16"})
    EXPECT_NE(r.err.find(s), std::string::npos) << s << " missing from:\n" << r.err;
  EXPECT_FALSE(fs::exists(out)) << "a refused run wrote " << out;
  EXPECT_TRUE(fs::is_empty(models)) << "a refused run wrote into the model folder";
  EXPECT_TRUE(r.out.empty()) << r.out;
}

TEST_F(CliE2E, HelpShowsDefaultsFromSettings) {
  const Result r = run_disco({"--help"}, dir_);
  EXPECT_EQ(r.status, 0);
  for (const char* s : {"--clip-guidance-scale", "5000", "--steps", "250", "--cutn-batches", "--eta", "0.8",
                        "--clip-models", "ViT-B/32,ViT-B/16,RN50", "TimeToDisco", "-o,--out"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing from --help:\n" << r.out;
}

TEST_F(CliE2E, ModelsListNamesTheRegistry) {
  const Result r = run_disco({"models", "list", "--models-dir", (dir_ / "cache").string()}, dir_);
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* s : {"512x512_diffusion_uncond_finetune_008100", "secondary_model_imagenet_2", "ViT-B/32",
                        "bpe_simple_vocab_16e6"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

}  // namespace
