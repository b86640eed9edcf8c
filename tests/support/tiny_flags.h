// The tiny fixture models as flags of the `disco` command, for the suites that run the binary.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/fixtures.h"

namespace disco::test {

// --model, --model-config (written into `dir`), --clip, --vocab and --device cpu.
inline std::vector<std::string> tiny_model_flags(const std::filesystem::path& dir) {
  const std::filesystem::path config = dir / "cfgA.json";
  std::ofstream(config) << manifest().at("unet").at("cfgA").at("model_config").dump(2);
  return {"--model", fixture_path("unet_cfgA.pt"), "--model-config", config.string(),
          "--clip", fixture_path("clip_vit_tiny.pt"),
          "--vocab", shared_dir() + "/data/bpe_simple_vocab_16e6.txt.gz", "--device", "cpu"};
}

}  // namespace disco::test
