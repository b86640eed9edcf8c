// Helpers shared by settings.cpp (defaults, validation) and settings_file.cpp (reading and
// writing DD's keys). Not part of the API.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace disco::settings_detail {

// "random_seed" is handled by the callers; anything else must be a 32-bit unsigned integer.
uint32_t parse_seed_text(const std::string& text, const std::string& key);
// DD's "60%" (int(text.strip('%'))): a whole percentage from 0 to 99.
int parse_percent(const std::string& text, const std::string& key);
// "a, b, c"
std::string join(const std::vector<std::string>& items);

}  // namespace disco::settings_detail
