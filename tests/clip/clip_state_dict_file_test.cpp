// load_clip on a torch.save state dict (OpenAI's key names, as OpenCLIP and `disco demo` write
// them) gives the same model as on OpenAI's TorchScript archive.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "clip/clip_model.h"
#include "common/error.h"
#include "io/weights_file.h"
#include "support/fixtures.h"

namespace disco::clip {
namespace {
namespace fs = std::filesystem;

fs::path temp_dir() {
  static const fs::path dir = [] {
    fs::path d = fs::temp_directory_path() / ("disco_clip_sd_test_" + std::to_string(::getpid()));
    fs::create_directories(d);
    return d;
  }();
  return dir;
}

TEST(CLIPStateDictFile, LoadsLikeTheTorchScriptArchive) {
  torch::NoGradGuard no_grad;
  for (const auto& file : test::manifest().at("clip").at("files").items()) {
    SCOPED_TRACE(file.key());
    const std::string jit_path = test::fixture_path(file.key());
    ASSERT_EQ(io::detect_file_kind(jit_path), io::FileKind::TorchScript);
    CLIP from_jit = load_clip(jit_path);

    // The state dict as Python's CLIP.state_dict() gives it: no input_resolution & co.
    const io::TensorMap sd = ordered_state_dict(*from_jit);
    for (const auto& key : jit_only_keys()) EXPECT_FALSE(sd.contains(key)) << key;
    const std::string sd_path = (temp_dir() / ("sd_" + file.key())).string();
    io::save_weights_file(sd, sd_path);
    ASSERT_EQ(io::detect_file_kind(sd_path), io::FileKind::TorchZip);
    CLIP from_sd = load_clip(sd_path);

    EXPECT_EQ(from_sd->config(), from_jit->config());
    const io::TensorMap got = ordered_state_dict(*from_sd);
    ASSERT_EQ(got.keys(), sd.keys());
    for (const auto& item : sd) EXPECT_TRUE(torch::equal(got[item.key()], item.value())) << item.key();
    EXPECT_FALSE(from_sd->is_training());
    for (const auto& p : from_sd->parameters()) EXPECT_FALSE(p.requires_grad());

    torch::manual_seed(0);
    const int64_t r = from_jit->config().image_resolution;
    const auto image = torch::randn({2, 3, r, r});
    EXPECT_TRUE(torch::equal(from_sd->encode_image(image), from_jit->encode_image(image)));
    auto tokens = torch::zeros({1, 77}, torch::kLong);
    tokens[0][0] = 49406, tokens[0][1] = 320, tokens[0][2] = 49407;
    EXPECT_TRUE(torch::equal(from_sd->encode_text(tokens), from_jit->encode_text(tokens)));
  }
}

TEST(CLIPStateDictFile, RefusesAStateDictWithAMissingTensor) {
  io::TensorMap sd;
  for (const auto& item : ordered_state_dict(*load_clip(test::fixture_path("clip_vit_tiny.pt"))))
    if (item.key() != "ln_final.bias") sd.insert(item.key(), item.value());
  const std::string path = (temp_dir() / "missing_tensor.pt").string();
  io::save_weights_file(sd, path);
  try {
    load_clip(path);
    ADD_FAILURE() << "a state dict without ln_final.bias was accepted";
  } catch (const ModelMismatchError& e) {
    EXPECT_NE(std::string(e.what()).find("ln_final.bias"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace disco::clip
