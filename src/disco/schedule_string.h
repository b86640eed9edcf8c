// DD's cutout schedule strings ("[12]*400+[4]*600"), dd-spec §2.7.
// DD runs them through Python's eval; here they are parsed by a small grammar and never executed:
//
//   expr   := term ('+' term)*                  list concatenation
//   term   := atom ('*' atom)*                  list * int or int * list: repetition
//   atom   := list | integer | '(' expr ')'
//   list   := '[' [number (',' number)* [',']] ']'
//   number := ['+'|'-'] Python int/float literal (digits, '_' between digits, '.', exponent)
//
// Whitespace is allowed between tokens. Anything else (names, calls, nested lists) is an error.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace disco {

// Parses `text` into the list it denotes. `name` (e.g. "cut_overview") is used in error
// messages. Throws disco::SettingsError naming the setting, the string, the 0-based position
// of the problem and what was expected there.
std::vector<double> parse_schedule_string(const std::string& text, const std::string& name);

// DD indexes cut schedules with 999 - floor(t_model), so they need at least this many entries.
constexpr std::size_t kCutScheduleLength = 1000;

// parse_schedule_string, then checks the length (>= kCutScheduleLength; entries past the first
// 1000 are never read, as in DD).
std::vector<double> parse_cut_schedule(const std::string& text, const std::string& name);

}  // namespace disco
