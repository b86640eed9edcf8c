// spherical_dist_loss, tv_loss, range_loss and the sat loss against manifest section "losses":
// "<loss>.out" is the loss of the section's input(s), "<loss>.grad*" the autograd gradient of
// out.sum() (for sph: of sum(out * sph.w)) with respect to the input.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>

#include "guidance/losses.h"
#include "support/fixtures.h"

namespace g = disco::guidance;
using disco::test::manifest;

namespace {

struct Result {
  torch::Tensor out, grad;
};

// One evaluation of a loss with its input gradient.
Result run_image_loss(const std::function<torch::Tensor(const torch::Tensor&)>& loss, const torch::Tensor& input) {
  auto x = input.detach().clone().requires_grad_(true);
  auto out = loss(x);
  out.sum().backward();
  return {out.detach(), x.grad()};
}

}  // namespace

TEST(Losses, MatchReferenceValuesAndGradients) {
  const auto& section = manifest().at("losses");
  const disco::test::Fixture t("losses");
  std::map<std::string, Result> results;
  auto result = [&](const std::string& loss) -> const Result& {
    auto it = results.find(loss);
    if (it != results.end()) return it->second;
    Result r;
    if (loss == "sph") {
      auto x = t["sph.x"].detach().clone().requires_grad_(true);
      auto out = g::spherical_dist_loss(x, t["sph.y"]);
      (out * t["sph.w"]).sum().backward();
      r = {out.detach(), x.grad()};
    } else if (loss == "tv") {
      r = run_image_loss(g::tv_loss, t["input"]);
    } else if (loss == "range") {
      r = run_image_loss(g::range_loss, t["input"]);
    } else if (loss == "sat") {
      r = run_image_loss(g::sat_loss, t["input"]);
    } else {
      throw std::runtime_error("no rule for loss '" + loss + "'");
    }
    return results.emplace(loss, r).first->second;
  };

  int checked = 0;
  for (const auto& [name, entry] : section.at("tensors").items()) {
    if (entry.at("role") != "expected") continue;
    SCOPED_TRACE(name);
    const auto dot = name.find('.');
    ASSERT_NE(dot, std::string::npos) << "expected tensors are named <loss>.<out|grad...>";
    const std::string loss = name.substr(0, dot), what = name.substr(dot + 1);
    const Result* r = nullptr;
    try {
      r = &result(loss);
    } catch (const std::runtime_error& e) {
      ADD_FAILURE() << e.what();
      continue;
    }
    if (what == "out") {
      t.check(r->out, name);
    } else if (what.rfind("grad", 0) == 0) {
      t.check(r->grad, name);
    } else {
      ADD_FAILURE() << "no rule for '" << name << "'";
      continue;
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}
