// A still-image run on the tiny fixture models (CPU, 64x64, 8 steps), in a private folder that
// goes when the test passed.
#pragma once
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "disco/run.h"
#include "support/fixtures.h"

namespace disco::test {

struct TinyRun {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("disco_run_test_" + std::to_string(::getpid()));
  Settings settings;
  RunOptions options;

  TinyRun() {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    const std::filesystem::path config = dir / "cfgA.json";
    std::ofstream(config) << manifest().at("unet").at("cfgA").at("model_config").dump();
    options.device = "cpu";
    options.out_dir = (dir / "out").string();
    options.models.diffusion = fixture_path("unet_cfgA.pt");
    options.models.diffusion_config = config.string();
    options.models.clip = {fixture_path("clip_vit_tiny.pt")};
    options.models.vocab = shared_dir() + "/data/bpe_simple_vocab_16e6.txt.gz";
    settings = merge_settings(Settings{},
                              {{"text_prompts", {{"0", {"a lighthouse:1"}}, {"3", {"a storm:1"}}}},
                               {"use_secondary_model", false}, {"width", 64}, {"height", 64}, {"steps", 8},
                               {"skip_steps", 1}, {"n_batches", 1}, {"display_rate", 3}, {"cutn_batches", 1},
                               {"seed", 7}, {"batch_name", "t"}},
                              "test");
  }
  ~TinyRun() {
    if (!::testing::Test::HasFailure()) std::filesystem::remove_all(dir);
  }
};

}  // namespace disco::test
