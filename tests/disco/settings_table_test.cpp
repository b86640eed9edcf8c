// The settings table: one entry drives the reader, the writer and validation, and
// docs/settings.md's reference is generated from it.
#include "disco/settings_table.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/throwaway_setting.h"

#include "common/error.h"

namespace disco {
namespace {


TEST(SettingsTable, ASettingAddedToTheTableIsReadWrittenAndChecked) {
  const SettingsTable t = test::with_throwaway_setting();
  const Settings s = merge_settings_with(t, Settings{}, {{"throwaway_rate", 7}}, "test");
  EXPECT_EQ(s.display_rate, 7);
  EXPECT_EQ(to_json_with(t, s).at("throwaway_rate"), 7);
  EXPECT_THROW(merge_settings_with(t, Settings{}, {{"throwaway_rate", 2}}, "test"), SettingsError);
  EXPECT_THROW(merge_settings(Settings{}, {{"throwaway_rate", 7}}, "test"), SettingsError);  // not in the real table
  EXPECT_NE(settings_reference_markdown(t).find("`throwaway_rate` | `--throwaway-rate` | int, ≥ 5"),
            std::string::npos);
}

TEST(SettingsTable, EverySavedSettingRoundTripsAndHasHelp) {
  for (const auto& e : settings_table().specs()) {
    EXPECT_FALSE(e.help.empty()) << e.key;
    EXPECT_TRUE(e.read) << e.key;
    if (!e.saved) continue;
    Settings s;
    std::vector<std::string> notes;
    e.read(s, e.write(Settings{}), notes);  // the default reads back as the default
    EXPECT_EQ(e.write(s), e.write(Settings{})) << e.key;
  }
  EXPECT_NO_THROW(validate_with(settings_table(), Settings{}));
}

// docs/settings.md holds the generated reference between two markers; DISCO_UPDATE_DOCS=1 rewrites it.
TEST(SettingsTable, DocsReferenceIsGeneratedFromTheTable) {
  const std::string path = std::string(DISCO_SOURCE_DIR) + "/docs/settings.md";
  std::ifstream in(path);
  ASSERT_TRUE(in) << path;
  std::stringstream ss;
  ss << in.rdbuf();
  std::string doc = ss.str();
  const std::string begin = "<!-- settings-reference:begin (generated from src/disco/settings_table.cpp) -->\n";
  const std::string end = "<!-- settings-reference:end -->";
  const auto a = doc.find(begin), b = doc.find(end);
  ASSERT_TRUE(a != std::string::npos && b != std::string::npos && a < b) << "markers missing in " << path;
  const std::string generated = settings_reference_markdown(settings_table()) + "\n";
  const char* update = std::getenv("DISCO_UPDATE_DOCS");
  if (update && std::string(update) == "1") {
    doc.replace(a + begin.size(), b - a - begin.size(), generated);
    std::ofstream(path) << doc;
  }
  EXPECT_EQ(doc.substr(a + begin.size(), b - a - begin.size()), generated)
      << "docs/settings.md's settings reference is stale: run DISCO_UPDATE_DOCS=1 build/tests/test_disco "
         "--gtest_filter=SettingsTable.DocsReferenceIsGeneratedFromTheTable";
}

}  // namespace
}  // namespace disco
