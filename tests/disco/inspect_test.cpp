#include "disco/inspect.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <unistd.h>

#include "clip/clip_model.h"
#include "common/error.h"
#include "support/fixtures.h"

using disco::inspect_model_file;
using disco::test::fixture_path;
using disco::test::manifest;

namespace {
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }
}  // namespace

// Every file of the fixture set is recognised for what the manifest says it is.
TEST(Inspect, RecognisesEveryFixtureFile) {
  const auto& m = manifest();
  for (const auto& [file, entry] : m.at("files").items()) {
    std::string desc = entry.value("description", "");
    SCOPED_TRACE(file + ": " + desc);
    if (file.size() > 5 && file.substr(file.size() - 5) == ".json") {
      // Not a weights file at all: a clear error, not a guess.
      EXPECT_THROW(inspect_model_file(fixture_path(file)), disco::CheckpointError);
      continue;
    }
    disco::ModelFileInfo info = inspect_model_file(fixture_path(file));
    if (m.at("unet").at("files").contains(file)) {
      EXPECT_TRUE(contains(info.description, "guided-diffusion UNet")) << info.description;
    } else if (m.at("clip").at("files").contains(file)) {
      EXPECT_TRUE(contains(info.description, "CLIP")) << info.description;
      EXPECT_EQ(info.format, "TorchScript archive");
    } else if (file.size() > 4 && file.substr(file.size() - 4) == ".png") {
      EXPECT_TRUE(contains(info.description, "PNG image")) << info.description;
    } else {
      // The expected_*.pt dicts: tensors, but no network.
      EXPECT_GT(info.n_tensors, 0);
      EXPECT_TRUE(contains(info.description, "no model disco-cpp knows")) << info.description;
    }
  }
}

TEST(Inspect, CountsTensorsParametersAndDtypesOfTheTinyUNet) {
  const auto& files = manifest().at("unet").at("files");
  for (const auto& [file, entry] : files.items()) {
    disco::ModelFileInfo info = inspect_model_file(fixture_path(file));
    EXPECT_EQ(info.n_tensors, entry.at("n_tensors").get<int64_t>()) << file;
    if (entry.contains("n_params")) {
      EXPECT_EQ(info.n_parameters, entry.at("n_params").get<int64_t>()) << file;
    }
    EXPECT_EQ(info.dtypes.at("float32"), info.n_tensors) << file;
    // A whole network that is no DD preset needs head counts; a partial file is called incomplete.
    size_t full = 0;
    for (const auto& [cfg, c] : manifest().at("unet").items())
      if (c.is_object() && c.contains("state_dict")) full = std::max(full, c.at("state_dict").size());
    bool whole = size_t(info.n_tensors) == full;
    EXPECT_TRUE(contains(info.description, whole ? "--model-config" : "incomplete")) << info.description;
  }
}

TEST(Inspect, CLIPFixturesListTheirKeysAndDtypes) {
  for (const auto& [file, entry] : manifest().at("clip").at("files").items()) {
    disco::ModelFileInfo info = inspect_model_file(fixture_path(file));
    EXPECT_EQ(info.n_tensors, entry.at("n_tensors").get<int64_t>()) << file;
    EXPECT_EQ(info.dtypes.at("float16"), entry.at("n_fp16").get<int64_t>()) << file;
    EXPECT_TRUE(contains(info.description, "not one of OpenAI's nine")) << info.description;
  }
}

TEST(Inspect, MissingFileIsAClearError) {
  EXPECT_THROW(inspect_model_file("/nonexistent/model.pt"), disco::Error);
}

namespace {
// A file with ViT-B/32's tensor names and shapes, each a broadcast view of one zero (a few KB):
// stands in for a published OpenCLIP checkpoint of that architecture.
std::string write_vit_b32_shapes(const std::filesystem::path& path) {
  torch::NoGradGuard no_grad;
  disco::clip::CLIPConfig config;
  for (const auto& m : disco::clip::known_models())
    if (m.name == "ViT-B/32") config = m.config;
  c10::Dict<std::string, at::Tensor> dict;
  const auto zero = torch::zeros({});
  for (const auto& item : disco::clip::ordered_state_dict(*disco::clip::CLIP(config)))
    dict.insert("module." + item.key(), zero.expand(item.value().sizes()));  // a DDP-saved file
  const std::vector<char> bytes = torch::pickle_save(dict);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path.string();
}
}  // namespace

// A published OpenCLIP file is named by its file name, with every model that loads it.
TEST(Inspect, NamesOpenClipFilesAndTheModelsTheyServe) {
  const auto dir = std::filesystem::temp_directory_path() / ("disco_inspect_openclip_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto published = write_vit_b32_shapes(dir / "vit_b_32-quickgelu-laion400m_e31-d867053b.pt");
  const std::string d = inspect_model_file(published).description;
  for (const char* part : {"OpenCLIP ViT-B/32", "laion400m_e31", "ViT-B-32::laion400m_e31 (DD's ViTB32_laion400m_e31, GELU)",
                           "ViT-B-32-quickgelu::laion400m_e31 (DD's ViTB32quickgelu_laion400m_e31, QuickGELU)"})
    EXPECT_TRUE(contains(d, part)) << part << " missing from: " << d;
  // Under another name the shapes alone say the architecture and that OpenCLIP's models share it.
  std::filesystem::rename(published, dir / "mine.pt");
  const std::string other = inspect_model_file((dir / "mine.pt").string()).description;
  EXPECT_TRUE(contains(other, "CLIP ViT-B/32 architecture as a torch.save state dict")) << other;
  EXPECT_TRUE(contains(other, "ViT-B-32-quickgelu::")) << other;
  std::filesystem::remove_all(dir);
}

// 3D mode's depth models: MiDaS' plain state dict and AdaBins' training checkpoint (its 'model'
// entry beside an optimizer state).
TEST(Inspect, RecognisesTheDepthModels) {
  const std::string dir = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/";
  const auto midas = inspect_model_file(dir + "midas/tiny_dpt.pt");
  EXPECT_NE(midas.description.find("MiDaS v3 DPT depth model (ViT, 4 blocks of width 64)"), std::string::npos)
      << midas.description;
  const auto adabins = inspect_model_file(dir + "adabins/tiny_adabins.pt");
  EXPECT_NE(adabins.description.find("AdaBins depth model"), std::string::npos) << adabins.description;
  EXPECT_GT(adabins.n_parameters, 0);
}
