// DD's OpenCLIP models against open_clip 2.12.0 itself (tests/fixtures/openclip, made by
// tools/fixtures/make_openclip_fixtures.py): tiny ViT and ModifiedResNet checkpoints, each loaded
// as open_clip builds its "-quickgelu" name (QuickGELU) and its plain name (nn.GELU).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clip/clip_model.h"
#include "io/sha256.h"
#include "io/weights_file.h"
#include "support/fixtures.h"

namespace disco::clip {
namespace {
using nlohmann::json;

std::string openclip_fixture(const std::string& file) {
  return std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/openclip/" + file;
}

const json& openclip_manifest() {
  static const json m = json::parse(std::ifstream(openclip_fixture("manifest.json")));
  return m;
}

const io::TensorMap& openclip_expected() {
  static const io::TensorMap e = io::load_weights_file(openclip_fixture("expected.pt"));
  return e;
}

test::Tolerance openclip_tolerance() { return test::tolerance_from(openclip_manifest()); }

// encode_image, encode_text and d/d image of sum(image embedding * probe), as the generator.
struct OpenClipOutputs {
  torch::Tensor image, text, image_grad;
};
OpenClipOutputs run_open_clip(CLIP& model, const std::string& image_tag) {
  const auto& e = openclip_expected();
  OpenClipOutputs out;
  auto image = e[image_tag + ".image_in"].clone().requires_grad_(true);
  {
    torch::AutoGradMode grad(true);
    out.image = model->encode_image(image);
    (out.image * e[image_tag + ".probe"]).sum().backward();
  }
  out.image = out.image.detach();
  out.image_grad = image.grad();
  torch::NoGradGuard no_grad;
  out.text = model->encode_text(e["tokens"]);
  return out;
}

TEST(OpenClipParity, FixtureFilesMatchTheManifest) {
  for (const auto& [file, entry] : openclip_manifest().at("files").items())
    EXPECT_EQ(io::sha256_file(openclip_fixture(file)), entry.at("sha256").get<std::string>())
        << file << " differs from tests/fixtures/openclip/manifest.json; rerun "
        << "tools/fixtures/make_openclip_fixtures.py";
}

// Every build of every file: the ViT one is a training checkpoint with DDP's 'module.' prefix,
// the ResNet one a plain state dict, both read as open_clip's load_checkpoint reads them.
TEST(OpenClipParity, EmbeddingsAndImageGradientMatchOpenClip) {
  const auto& e = openclip_expected();
  for (const auto& [case_name, c] : openclip_manifest().at("cases").items()) {
    SCOPED_TRACE(case_name);
    CLIP model = load_open_clip(openclip_fixture(c.at("file")), c.at("quick_gelu").get<bool>());
    EXPECT_EQ(model->config().quick_gelu, c.at("quick_gelu").get<bool>());
    const std::string image_tag = c.at("image");
    const std::string data_tag = image_tag.substr(0, image_tag.find('_'));  // "vit" or "rn"
    const OpenClipOutputs out = run_open_clip(model, data_tag);
    const std::string prefix = "openclip." + case_name;
    test::expect_close(out.image, e[image_tag + ".image"], prefix + ".image", openclip_tolerance());
    test::expect_close(out.image_grad, e[image_tag + ".image_grad"], prefix + ".image_grad", openclip_tolerance());
    test::expect_close(out.text, e[case_name + ".text"], prefix + ".text", openclip_tolerance());
    if (model->vit) {  // the lean MLP graph (memory plan) must give the same gradient with either activation
      model->set_lean_image_mlp(true);
      const OpenClipOutputs lean = run_open_clip(model, data_tag);
      test::expect_close(lean.image_grad, e[image_tag + ".image_grad"], prefix + ".image_grad (lean MLP)",
                         openclip_tolerance());
    }
  }
}

// The fixtures tell the activations apart: the other one misses by far more than the tolerance.
TEST(OpenClipParity, TheWrongActivationIsFarOff) {
  const auto& e = openclip_expected();
  CLIP gelu = load_open_clip(openclip_fixture("vit_tiny-quickgelu.pt"), /*quick_gelu=*/false);
  const auto out = run_open_clip(gelu, "vit");
  const double miss = (out.image - e["vit_quickgelu.image"]).abs().max().item<double>();
  const double text_miss = (out.text - e["vit_quickgelu.text"]).abs().max().item<double>();
  std::printf("PARITY openclip: GELU against QuickGELU's expected: image %.3g, text %.3g\n", miss, text_miss);
  EXPECT_GT(miss, 100 * openclip_tolerance().atol);
  EXPECT_GT(text_miss, 100 * openclip_tolerance().atol);
}

}  // namespace
}  // namespace disco::clip
