// The key lists of ../shared/spec/models-spec-keys.txt: name, shape and dtype of every tensor of
// the real checkpoints, in Python's state_dict order.
#pragma once
#include <sstream>
#include <string>
#include <vector>

#include <c10/util/ArrayRef.h>

namespace disco::test {

struct SpecKey {
  std::string name, shape, dtype;  // shape as written in the spec file: "[128, 3, 3, 3]"
  bool operator==(const SpecKey& o) const { return name == o.name && shape == o.shape && dtype == o.dtype; }
};

// A shape as the spec file writes it: "[128, 3, 3, 3]".
inline std::string shape_text(c10::IntArrayRef s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

// Rows of the section whose "## " heading starts with `heading` (e.g. "## UNet 512",
// "## CLIP ViT-B/32:"). Fails the current test when the file or the section is missing.
std::vector<SpecKey> spec_key_section(const std::string& heading);

}  // namespace disco::test
