#include "support/spec_keys.h"

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "support/fixtures.h"

namespace disco::test {

std::vector<SpecKey> spec_key_section(const std::string& heading) {
  const std::string path = shared_dir() + "/spec/models-spec-keys.txt";
  std::ifstream f(path);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::vector<SpecKey> rows;
  std::string line;
  bool in = false;
  while (std::getline(f, line)) {
    if (line.rfind("## ", 0) == 0) {
      in = line.rfind(heading, 0) == 0;
      continue;
    }
    if (!in || line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    SpecKey r;
    std::getline(ls, r.name, '\t');
    std::getline(ls, r.shape, '\t');
    std::getline(ls, r.dtype, '\t');
    rows.push_back(r);
  }
  EXPECT_FALSE(rows.empty()) << "no section '" << heading << "' in " << path;
  return rows;
}

}  // namespace disco::test
