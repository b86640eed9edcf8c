// `disco demo` end to end (CPU, no network): the demo models are written into the model folder,
// reused, the same on every write, and the run makes a 64x64 image; without a vocabulary it says
// both ways to get one and writes nothing.
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

using Result = disco::test::CommandResult;
using disco::test::quote;
using disco::test::read_file;

class DemoCli : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("disco_demo_cli_" + std::to_string(::getpid()));
  std::string vocab_ = disco::test::shared_dir() + "/data/bpe_simple_vocab_16e6.txt.gz";

  void SetUp() override {
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);
  }

  // `disco demo ARGS`, with $DISCO_MODELS pointing into the test folder (never the user's cache).
  Result demo(const std::vector<std::string>& args) {
    std::string cmd = "DISCO_MODELS=" + quote((dir_ / "default_models").string()) + " " + quote(DISCO_BINARY) + " demo";
    for (const auto& a : args) cmd += " " + quote(a);
    return disco::test::run_command(cmd, dir_);
  }
};

const char* const kModelFiles[] = {"demo_unet.pt", "demo_unet_config.json", "demo_clip.pt"};

TEST_F(DemoCli, WritesTheModelsAndMakesAnImage) {
  const fs::path models = dir_ / "models", out = dir_ / "out";
  const Result r = demo({"--models-dir", models.string(), "-o", out.string(), "--vocab", vocab_});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* name : kModelFiles) {
    EXPECT_TRUE(fs::is_regular_file(models / name)) << name;
    EXPECT_NE(r.err.find("wrote " + (models / name).string()), std::string::npos) << r.err;
  }
  const fs::path image = out / "demo(0)_0.png";
  EXPECT_EQ(r.out, image.string() + "\n");
  const auto png = disco::io::read_png(image.string());
  EXPECT_EQ(png.width, 64);
  EXPECT_EQ(png.height, 64);
  const auto settings = nlohmann::json::parse(disco::io::read_png_text(image.string()).at("disco-settings"));
  EXPECT_EQ(settings.at("seed"), 42);
  EXPECT_EQ(settings.at("steps"), 8);
  EXPECT_EQ(settings.at("use_secondary_model"), false);
  EXPECT_NE(r.err.find("8 steps (skip 2)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("noise-like"), std::string::npos) << r.err;
  // No temporary files next to the models.
  int files = 0;
  for (const auto& e : fs::directory_iterator(models)) files += e.is_regular_file();
  EXPECT_EQ(files, 3);

  // A second run reuses the models and makes the same image.
  const fs::path out2 = dir_ / "out2";
  const Result again = demo({"--models-dir", models.string(), "-o", out2.string(), "--vocab", vocab_});
  ASSERT_EQ(again.status, 0) << again.err;
  EXPECT_EQ(again.err.find("wrote "), std::string::npos) << again.err;
  EXPECT_TRUE(read_file(out2 / "demo(0)_0.png") == read_file(image)) << "the second image differs";
}

TEST_F(DemoCli, SameModelsInEveryFolderAndTheFolderVocabularyIsUsed) {
  const fs::path a = dir_ / "a";
  ASSERT_EQ(demo({"--models-dir", a.string(), "-o", (dir_ / "out_a").string(), "--vocab", vocab_}).status, 0);
  // The manager's copy of the vocabulary (what `disco models fetch` leaves there) needs no --vocab;
  // $DISCO_MODELS is the default model folder.
  const fs::path b_default = dir_ / "default_models";
  fs::create_directories(b_default);
  fs::copy_file(vocab_, b_default / "bpe_simple_vocab_16e6.txt.gz");
  const Result r = demo({"-o", (dir_ / "out_b").string()});
  ASSERT_EQ(r.status, 0) << r.err;
  for (const char* name : kModelFiles) {
    const std::string x = read_file(a / name), y = read_file(b_default / name);
    EXPECT_FALSE(x.empty()) << name;
    EXPECT_TRUE(x == y) << name << " differs between two writes";
  }
  // The same pixels (the embedded settings name each folder's model file).
  EXPECT_TRUE(disco::io::read_png((dir_ / "out_a" / "demo(0)_0.png").string()).rgb ==
              disco::io::read_png((dir_ / "out_b" / "demo(0)_0.png").string()).rgb);
}

TEST_F(DemoCli, WithoutVocabularySaysBothWaysAndWritesNothing) {
  const fs::path models = dir_ / "models", out = dir_ / "out";
  const Result r = demo({"--models-dir", models.string(), "-o", out.string()});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_NE(r.err.find("--vocab"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("disco models fetch bpe_simple_vocab_16e6"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_FALSE(fs::exists(models));
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(DemoCli, HelpSaysTheImageIsNoiseLike) {
  const Result r = demo({"--help"});
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("noise-like"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--vocab"), std::string::npos) << r.out;
}

}  // namespace
