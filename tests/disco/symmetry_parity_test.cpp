// Symmetry against manifest section "symmetry": the three transformations (exact) and, per
// case, the respaced indices / loop iterations at which the DDIM loop fires it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "disco/symmetry.h"
#include "support/fixtures.h"

namespace disco::test {
namespace {

TEST(SymmetryParity, TransformationsMatchExactly) {
  const Fixture expected("symmetry");
  const auto& tensors = expected.tensors();
  auto x = expected["x"];
  // The procedure's names for (use_horizontal_symmetry, use_vertical_symmetry).
  const std::vector<std::tuple<std::string, bool, bool>> modes = {
      {"horizontal", true, false}, {"vertical", false, true}, {"both", true, true}};
  int checked = 0;
  for (const auto& [name, h, v] : modes) {
    if (!tensors.contains(name)) continue;
    expected.check(symmetry_transformation(x, h, v), name);
    ++checked;
  }
  EXPECT_GT(checked, 0);
  EXPECT_TRUE(torch::equal(symmetry_transformation(x, false, false), x));
}

TEST(SymmetryParity, FiresAtTheManifestLoopIterations) {
  const auto& sec = manifest().at("symmetry");
  const Fixture expected("symmetry");
  auto steps_skip = expected["steps_skip"];
  const int64_t L = steps_skip[0].item<int64_t>() - steps_skip[1].item<int64_t>();
  const auto& cases = sec.at("run").at("cases");
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) {
    const std::string p = "case" + std::to_string(c.at("case").get<int>()) + ".";
    auto pct = expected[p + "transformation_percent"].to(torch::kDouble).contiguous();
    std::vector<double> percents(pct.data_ptr<double>(), pct.data_ptr<double>() + pct.numel());
    SymmetrySchedule schedule(L, percents);
    EXPECT_EQ(schedule.steps(), c.at("transformation_steps").get<std::vector<int64_t>>()) << p;
    // The loop: iteration j visits respaced index i = L-1-j and transforms x before the step.
    std::vector<int64_t> fire_index, fire_j;
    for (int64_t j = 0; j < L; ++j) {
      const int64_t i = L - 1 - j;
      if (schedule.should_fire(i)) {
        fire_index.push_back(i);
        fire_j.push_back(j);
      }
    }
    expected.check(torch::tensor(fire_index, torch::kLong), p + "fire_index");
    expected.check(torch::tensor(fire_j, torch::kLong), p + "fire_j");
  }
}

}  // namespace
}  // namespace disco::test
