// Whole files as strings, for tests that compare or corrupt bytes ("" when the file is missing).
#pragma once
#include <fstream>
#include <iterator>
#include <string>

namespace disco::test {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

}  // namespace disco::test
