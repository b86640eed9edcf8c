// Every top-level section of manifest.json and every tensor it lists is handled by a parity test:
// a new section or a new kind of tensor fails here ("unhandled manifest section X", "unhandled
// case X") until a test compares it. The owners themselves check, when their Fixture goes out of
// scope, that they compared (or, for inputs, fed) every tensor the rules give them.
// The rules and the list of descriptive sections are in tests/support/fixtures.cpp.
#include <regex>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "support/fixtures.h"

namespace disco::test {
namespace {

// The rule's tensor pattern for any test parameter.
std::regex any_param(const CoverageRule& rule) {
  return std::regex(std::regex_replace(rule.tensors, std::regex(R"(\{param\})"), ".+"));
}

bool has_tensor_table(const nlohmann::json& body) { return body.is_object() && body.contains("tensors"); }

TEST(ManifestCoverage, EveryTopLevelSectionIsHandled) {
  std::set<std::string> with_rules;
  for (const auto& rule : coverage_rules()) with_rules.insert(rule.section);
  int sections = 0;
  for (const auto& [section, body] : manifest().items()) {
    ++sections;
    if (descriptive_sections().count(section)) {
      EXPECT_FALSE(has_tensor_table(body) || (body.is_object() && body.contains("expected_file")))
          << "manifest section " << section << " is listed as descriptive but has tensors to compare";
      continue;
    }
    if (sections_without_tensor_table().count(section)) {
      EXPECT_FALSE(has_tensor_table(body)) << "manifest section " << section << " has grown a tensors table";
      continue;
    }
    if (with_rules.count(section)) {
      EXPECT_TRUE(has_tensor_table(body)) << "manifest section " << section << " has coverage rules but no tensors";
      continue;
    }
    ADD_FAILURE() << "unhandled manifest section " << section
                  << ": no parity test compares it (add its owners to coverage_rules in tests/support/fixtures.cpp, "
                  << "or list it as descriptive there)";
  }
  EXPECT_GT(sections, 0);
}

TEST(ManifestCoverage, EveryTensorHasAnOwnerTest) {
  int tensors = 0;
  for (const auto& [section, body] : manifest().items()) {
    if (!has_tensor_table(body)) continue;
    std::vector<std::regex> patterns;
    for (const auto& rule : coverage_rules())
      if (rule.section == section) patterns.push_back(any_param(rule));
    for (const auto& [name, entry] : body.at("tensors").items()) {
      ++tensors;
      bool owned = false;
      for (const auto& p : patterns) owned = owned || std::regex_match(name, p);
      if (!owned)
        ADD_FAILURE() << "unhandled case " << section << "." << name << " (role "
                      << entry.value("role", "?") << "): no coverage rule gives it to a parity test";
    }
  }
  EXPECT_GT(tensors, 0);
}

// A rule that matches nothing names a tensor the manifest no longer has (or a typo).
TEST(ManifestCoverage, EveryRuleMatchesAManifestTensor) {
  for (const auto& rule : coverage_rules()) {
    SCOPED_TRACE(rule.section + " / " + rule.tensors + " / " + rule.test);
    ASSERT_TRUE(manifest().contains(rule.section)) << "no manifest section " << rule.section;
    const auto& body = manifest().at(rule.section);
    ASSERT_TRUE(has_tensor_table(body));
    const auto pattern = any_param(rule);
    bool matched = false;
    for (const auto& [name, entry] : body.at("tensors").items()) matched = matched || std::regex_match(name, pattern);
    EXPECT_TRUE(matched) << "the rule matches no tensor of manifest section " << rule.section;
  }
}

}  // namespace
}  // namespace disco::test
