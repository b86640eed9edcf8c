// The fixtures' "formula weights" (manifest conventions.formula_weights): deterministic stand-ins
// for weights that are not shipped (UNet cfgB, the secondary model, LPIPS).
#pragma once
#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace disco::test {

// Tensor k of a state dict: murmur3 fmix32 of (i*0x9E3779B1 + (k+1)*0x632BE5AB), u = (h>>8)/2^24,
// w = float(offset + scale*(2u-1)) computed in double.
torch::Tensor formula_tensor(int64_t k, at::IntArrayRef shape, double offset, double scale);

// rows: the manifest's [k, key, shape, offset, scale, first_two_values, sum_float64] table.
// Fills every named parameter/buffer of `module` listed in rows (fails the test on a missing key,
// a wrong shape, or when the generated values disagree with first_two_values/sum_float64), and
// fails if the module has a parameter the table does not list.
void apply_formula_rows(torch::nn::Module& module, const nlohmann::json& rows);

}  // namespace disco::test
