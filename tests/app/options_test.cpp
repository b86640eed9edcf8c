// The run's flags come from the settings table: a setting added to the table has its flag, its
// help and its default, and the flag's value goes through the setting's reader and checks.
#include "cli/options.h"

#include <gtest/gtest.h>

#include "support/throwaway_setting.h"

namespace disco::cli {
namespace {


Settings parse(const SettingsTable& table, std::vector<const char*> argv) {
  CLI::App app;
  RunFlags flags;
  add_run_flags(app, flags, table);
  argv.insert(argv.begin(), "disco");
  app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  return build_settings(flags, nullptr);
}

TEST(CliOptions, ASettingInTheTableHasItsFlagHelpAndChecks) {
  const SettingsTable table = test::with_throwaway_setting();
  CLI::App app;
  RunFlags flags;
  add_run_flags(app, flags, table);
  const std::string help = app.help();
  EXPECT_NE(help.find("--throwaway-rate"), std::string::npos) << help;
  EXPECT_NE(help.find("A setting only this test knows"), std::string::npos);
  EXPECT_NE(help.find("--steps"), std::string::npos);  // the real table's flags are there too

  EXPECT_EQ(parse(table, {"--throwaway-rate", "9"}).display_rate, 9);
  EXPECT_THROW(parse(table, {"--throwaway-rate", "2"}), SettingsError);
}

TEST(CliOptions, FlagValuesGoThroughTheSettingsReaders) {
  const SettingsTable& table = settings_table();
  const Settings s = parse(table, {"--steps", "40", "-s", "random", "--clip-models", "RN50", "--prompt-keys", "frame",
                                   "--intermediate-saves", "[3,5]", "--perlin-init"});
  EXPECT_EQ(s.steps, 40);
  EXPECT_FALSE(s.seed.has_value());
  EXPECT_EQ(s.clip_model_names(), (std::vector<std::string>{"RN50"}));
  EXPECT_EQ(s.prompt_keys, PromptKeys::Frame);
  EXPECT_EQ(s.intermediate_saves.steps, (std::vector<int>{3, 5}));
  EXPECT_TRUE(s.perlin_init);
  try {
    parse(table, {"--steps", "lots"});
    FAIL() << "--steps lots was accepted";
  } catch (const SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find("'steps' must be an integer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace disco::cli
