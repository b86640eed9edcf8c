// YAML settings files: DD's keys read as from JSON, PyYAML's scalar types, discoart's files in
// DD's terms, and one clear error for a tab indent, a syntax error or an unknown key.
#include "disco/settings_yaml.h"

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/error.h"
#include "disco/settings.h"

namespace disco {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

class YamlSettings : public ::testing::Test {
 protected:
  fs::path dir_ = fs::temp_directory_path() / ("disco_yaml_" + std::to_string(::getpid()));
  void SetUp() override {
    fs::create_directories(dir_);
    if (!have_yaml_support()) GTEST_SKIP() << "built without yaml-cpp";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    const fs::path p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::string error_of(const std::string& path) {
    try {
      load_settings_file(path);
    } catch (const SettingsError& e) {
      return e.what();
    }
    return "";
  }
};

TEST_F(YamlSettings, ReadsDDsKeysAsTheJsonFormDoes) {
  const Settings y = load_settings_file(file("a.yml", R"(
text_prompts:
  - "a lighthouse in a storm:2"
  - blurry:-0.5
steps: 100
width_height: [128, 64]
set_seed: "42"
use_secondary_model: no
clamp_max: .05
cut_overview: "[12]*400+[4]*600"
)"));
  const Settings j = merge_settings(Settings{}, json{{"text_prompts", {"a lighthouse in a storm:2", "blurry:-0.5"}},
                                                     {"steps", 100}, {"width_height", {128, 64}}, {"set_seed", "42"},
                                                     {"use_secondary_model", false}, {"clamp_max", 0.05}},
                                    "json");
  EXPECT_EQ(y, j);
}

TEST_F(YamlSettings, ScalarsAreTypedAsPyYamlTypesThem) {
  const json j = yaml_to_json("a: yes\nb: 'yes'\nc: 1.\nd: 1e3\ne: ~\nf: 12\ng: 1_000\n", "t");
  EXPECT_EQ(j["a"], true);
  EXPECT_EQ(j["b"], "yes");
  EXPECT_EQ(j["c"], 1.0);
  EXPECT_EQ(j["d"], "1e3");  // YAML 1.1 floats need a dot
  EXPECT_TRUE(j["e"].is_null());
  EXPECT_EQ(j["f"], 12);
  EXPECT_EQ(j["g"], 1000);
}

TEST_F(YamlSettings, DiscoartFilesInDDsTerms) {
  std::vector<std::string> notes;
  const Settings s = load_settings_file(file("discoart.yml", R"(
text_prompts:
  - a lighthouse
seed:
batch_name:
cut_ic_pow: 1.
save_rate: 10
display_rate: 1
gif_fps: 12
name_docarray:
truncate_overlength_prompt: True
clip_models:
  - ViT-B-32::openai
  - RN50::openai
)"),
                                        Settings{}, &notes);
  EXPECT_EQ(s.display_rate, 10);
  EXPECT_EQ(s.cut_ic_pow, "[1.0]*1000");
  EXPECT_TRUE(s.truncate_prompts);
  EXPECT_EQ(s.clip_model_names(), (std::vector<std::string>{"ViT-B/32", "RN50"}));
  EXPECT_EQ(s.batch_name, Settings{}.batch_name);  // null: the default
  std::string all;
  for (const auto& n : notes) all += n + "\n";
  EXPECT_NE(all.find("not supported and are ignored: display_rate ("), std::string::npos) << all;
  EXPECT_EQ(s.gif_fps, 12);  // kept for --gif
  EXPECT_EQ(load_settings_file(file("openclip.yml", "save_rate: 5\nclip_models: [RN50::openai, ViT-B-32::laion2b_e16]\n"),
                               Settings{})
                .clip_model_names(),
            (std::vector<std::string>{"RN50", "ViT-B-32::laion2b_e16"}));
  EXPECT_NE(error_of(file("laion5b.yml", "save_rate: 5\nclip_models: [ViT-H-14::laion2b_s32b_b79k]\n"))
                .find("ViT-H-14::laion2b_s32b_b79k"),
            std::string::npos);
}

TEST_F(YamlSettings, BadFilesAreOneClearError) {
  EXPECT_NE(error_of(file("tab.yml", "steps: 10\ntext_prompts:\n\t- a\n")).find("line 3 is indented with a tab"),
            std::string::npos);
  EXPECT_NE(error_of(file("unknown.yml", "stepz: 10\n")).find("unknown setting 'stepz'"), std::string::npos);
  EXPECT_NE(error_of(file("syntax.yml", "steps: [10\n")).find("is not valid YAML (line"), std::string::npos);
  EXPECT_NE(error_of(file("type.yml", "steps: '10'\n")).find("'steps'"), std::string::npos);
}

}  // namespace
}  // namespace disco
