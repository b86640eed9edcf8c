#include "support/formula_models.h"

#include "support/fixtures.h"
#include "support/formula_weights.h"

namespace disco::test {
namespace {

void freeze(torch::nn::Module& m) {
  m.eval();
  for (auto& p : m.parameters()) p.set_requires_grad(false);
}

}  // namespace

diffusion::SecondaryDiffusionImageNet2 formula_secondary_model() {
  diffusion::SecondaryDiffusionImageNet2 model;
  apply_formula_rows(*model, manifest().at("secondary").at("state_dict_keys").at("rows"));
  freeze(*model);
  return model;
}

guidance::LPIPS formula_lpips() {
  guidance::LPIPS model;
  apply_formula_rows(*model, manifest().at("lpips").at("formula_check").at("rows"));
  freeze(*model);
  return model;
}

}  // namespace disco::test
