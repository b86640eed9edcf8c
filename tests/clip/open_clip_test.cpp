// DD's thirteen OpenCLIP models: the registry (open_clip 2.12.0's pretrained.py), the activation
// by name, and the real-size architectures against the tensors open_clip's own models have
// (tests/fixtures/openclip/openclip_keys.txt.gz, written by tools/fixtures/make_openclip_fixtures.py).
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "clip/clip_model.h"
#include "clip/open_clip.h"
#include "common/error.h"
#include "io/gzip.h"
#include "support/spec_keys.h"

namespace disco::clip {
namespace {

TEST(OpenClipRegistry, DDsThirteenModelsInDDsOrder) {
  const std::vector<std::string> want = {
      "ViT-B-32::laion2b_e16",         "ViT-B-32::laion400m_e31",         "ViT-B-32::laion400m_e32",
      "ViT-B-32-quickgelu::laion400m_e31", "ViT-B-32-quickgelu::laion400m_e32", "ViT-B-16::laion400m_e31",
      "ViT-B-16::laion400m_e32",       "RN50::yfcc15m",                   "RN50::cc12m",
      "RN50-quickgelu::yfcc15m",       "RN50-quickgelu::cc12m",           "RN101::yfcc15m",
      "RN101-quickgelu::yfcc15m"};
  std::vector<std::string> names;
  std::set<std::string> files;
  for (const auto& m : open_clip_models()) {
    names.push_back(m.name());
    files.insert(m.file);
    EXPECT_TRUE(std::regex_match(m.sha256_prefix, std::regex("[0-9a-f]{8}"))) << m.file;
    EXPECT_NE(m.file.find("-" + m.sha256_prefix + "."), std::string::npos) << m.file;
    EXPECT_EQ(m.url(), "https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/" + m.file);
    EXPECT_EQ(find_open_clip_model(m.name()), &m);
  }
  EXPECT_EQ(names, want);
  EXPECT_EQ(files.size(), 8u);  // the plain laion400m/yfcc15m/cc12m names load the quickgelu files
  EXPECT_EQ(find_open_clip_model("ViT-B-32::openai"), nullptr);
}

TEST(OpenClipRegistry, QuickGELUExactlyForTheQuickgeluNames) {
  EXPECT_FALSE(find_open_clip_model("ViT-B-32::laion400m_e31")->quick_gelu());
  EXPECT_TRUE(find_open_clip_model("ViT-B-32-quickgelu::laion400m_e31")->quick_gelu());
  EXPECT_FALSE(find_open_clip_model("RN101::yfcc15m")->quick_gelu());
  EXPECT_TRUE(find_open_clip_model("RN101-quickgelu::yfcc15m")->quick_gelu());
  // Same file, two builds.
  EXPECT_EQ(find_open_clip_model("RN50::cc12m")->file, find_open_clip_model("RN50-quickgelu::cc12m")->file);
  const auto served = open_clip_models_of_file("vit_b_32-quickgelu-laion400m_e32-46683a32.pt");
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0]->name(), "ViT-B-32::laion400m_e32");
  EXPECT_EQ(served[1]->name(), "ViT-B-32-quickgelu::laion400m_e32");
  EXPECT_TRUE(open_clip_models_of_file("ViT-B-32.pt").empty());
}

// "## <model>: N tensors" sections of the open_clip key list: name -> shape text.
std::map<std::string, std::map<std::string, std::string>> open_clip_key_lists() {
  std::istringstream in(io::read_gzip_file(std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/openclip/openclip_keys.txt.gz"));
  std::map<std::string, std::map<std::string, std::string>> out;
  std::string line, section;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      section = line.substr(3, line.find(':') - 3);
      continue;
    }
    const auto tab = line.find('\t');
    if (tab != std::string::npos) out[section][line.substr(0, tab)] = line.substr(tab + 1);
  }
  return out;
}

// Real-size models with random weights, built as DD's OpenCLIP names build them (GELU: these
// open_clip names have no "-quickgelu"), against open_clip's state_dict(): same names and shapes.
// (Python's order differs inside each block, ln_1 before attn; loading goes by name.)
TEST(OpenClipKeys, RealSizeArchitecturesHaveOpenClipsTensors) {
  torch::NoGradGuard no_grad;
  const auto lists = open_clip_key_lists();
  const std::map<std::string, std::string> architecture = {
      {"ViT-B-32", "ViT-B/32"}, {"ViT-B-16", "ViT-B/16"}, {"RN50", "RN50"}, {"RN101", "RN101"}};
  ASSERT_EQ(lists.size(), architecture.size());
  for (const auto& [open_clip_name, openai_name] : architecture) {
    SCOPED_TRACE(open_clip_name);
    CLIPConfig config;
    for (const auto& m : known_models())
      if (m.name == openai_name) config = m.config;
    config.quick_gelu = false;
    CLIP model(config);
    std::map<std::string, std::string> ours;
    for (const auto& item : ordered_state_dict(*model)) ours[item.key()] = test::shape_text(item.value().sizes());
    const auto& theirs = lists.at(open_clip_name);
    EXPECT_EQ(ours.size(), theirs.size());
    for (const auto& [name, shape] : theirs) {
      ASSERT_TRUE(ours.count(name)) << "missing " << name;
      EXPECT_EQ(ours.at(name), shape) << name;
    }
  }
}

}  // namespace
}  // namespace disco::clip
