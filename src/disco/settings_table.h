// One description per setting: its DD key, the notebook group it belongs to, its type, the
// checks on its value, the command-line flag, the help line and whether the settings file saves
// it. The settings-file reader and writer (merge_settings, to_json), validation, the CLI's flags
// and the reference in docs/settings.md all come from this table; adding a setting means adding
// its entry here and the code that uses it, nothing else.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "disco/settings.h"

namespace disco {

// How a value is written on a command line and shown in the reference.
enum class SettingType { Bool, Int, Number, Text, Choice, List, Prompts };
const char* setting_type_name(SettingType t);  // "bool", "int", "number", "text", "choice", "list", "prompts"

struct SettingSpec {
  std::string key;    // DD's name: the settings-file key and --set KEY=VALUE
  std::string group;  // the notebook's group: "Prompts", "Models", "Basic", "Init image", "Extra", "Cutn schedules"
  SettingType type = SettingType::Text;
  std::string flag;   // the CLI's own flag ("-s,--seed"); empty: --set KEY=VALUE only
  std::string help;   // one line
  bool saved = true;  // written by to_json
  std::vector<std::string> choices;  // the allowed values of a Choice
  std::string allowed;               // the values the checks allow, in words ("≥ 1"), for the reference
  // Reads a settings-file value into the settings; throws SettingsError naming the key when the
  // value has the wrong type. `notes` takes remarks worth showing the user.
  std::function<void(Settings&, const nlohmann::json&, std::vector<std::string>& notes)> read;
  // The value as the settings file holds it (null for an unsaved setting).
  std::function<nlohmann::ordered_json(const Settings&)> write;
  // Range checks on the value (it may read other settings); throws SettingsError naming the key.
  std::function<void(const Settings&)> check;
};

class SettingsTable {
 public:
  SettingsTable& add(SettingSpec spec);  // a key already in the table is an error
  // Checks over several settings at once (run after every entry's own check).
  SettingsTable& add_check(std::function<void(const Settings&)> check);
  const SettingSpec* find(const std::string& key) const;
  const std::vector<SettingSpec>& specs() const { return specs_; }
  const std::vector<std::function<void(const Settings&)>>& checks() const { return checks_; }

 private:
  std::vector<SettingSpec> specs_;
  std::vector<std::function<void(const Settings&)>> checks_;
};

// Every setting disco-cpp takes, saved ones in the order of DD's settings file (dd-spec §12)
// followed by this port's own; built once, immutable.
const SettingsTable& settings_table();

// Every check of the table, in order: the first bad value throws SettingsError.
void validate_with(const SettingsTable& table, const Settings& s);

// merge_settings, to_json and Settings::validate over another table (settings.h's functions use
// settings_table()).
Settings merge_settings_with(const SettingsTable& table, const Settings& base, const nlohmann::json& j,
                             const std::string& source, std::vector<std::string>* notes = nullptr);
nlohmann::ordered_json to_json_with(const SettingsTable& table, const Settings& s);

// The settings reference of docs/settings.md: one table per group (key, flag, type, default,
// what it does), from the table's entries and Settings{}.
std::string settings_reference_markdown(const SettingsTable& table);

}  // namespace disco
