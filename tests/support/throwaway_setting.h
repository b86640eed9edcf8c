// A setting that only the tests know, added to the settings table alone: "throwaway_rate", a
// flag --throwaway-rate, stored in display_rate, at least 5. The table's tests use it to show
// that one entry reaches the reader, the writer, the checks, the CLI and the reference.
#pragma once
#include "common/error.h"
#include "disco/settings_table.h"

namespace disco::test {

inline SettingsTable with_throwaway_setting() {
  SettingsTable t = settings_table();
  SettingSpec e;
  e.key = "throwaway_rate";
  e.group = "Extra";
  e.type = SettingType::Int;
  e.flag = "--throwaway-rate";
  e.help = "A setting only this test knows";
  e.allowed = "≥ 5";
  e.read = [](Settings& s, const nlohmann::json& v, std::vector<std::string>&) { s.display_rate = v.get<int>(); };
  e.write = [](const Settings& s) { return nlohmann::ordered_json(s.display_rate); };
  e.check = [](const Settings& s) {
    if (s.display_rate < 5) throw SettingsError("setting 'throwaway_rate' must be >= 5");
  };
  t.add(e);
  return t;
}

}  // namespace disco::test
