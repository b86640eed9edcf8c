// The networks that have no fixture file, built from the fixtures' formula weights (manifest
// sections "secondary" and "lpips"): eval mode, no parameter gradients, on the CPU.
#pragma once
#include "diffusion/secondary_model.h"
#include "guidance/lpips.h"

namespace disco::test {

diffusion::SecondaryDiffusionImageNet2 formula_secondary_model();
guidance::LPIPS formula_lpips();

}  // namespace disco::test
