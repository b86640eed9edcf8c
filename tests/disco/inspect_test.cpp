#include "disco/inspect.h"

#include <gtest/gtest.h>

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
