// Strict, name-for-name copy of a checkpoint's tensors into a torch::nn::Module
// (the C++ twin of Python's load_state_dict(strict=True)).
#pragma once
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "io/weights_file.h"

namespace disco::io {

// Copies every parameter and buffer of `module` from `sd` (same name, same shape; values are
// converted to the module tensor's dtype and device). Throws ModelMismatchError naming the first
// missing, unexpected or misshaped key and `source` (the file, for the message). Keys listed in
// `ignore` may be present in sd without a counterpart (e.g. CLIP's input_resolution).
void load_state_dict(torch::nn::Module& module, const TensorMap& sd, const std::string& source,
                     const std::vector<std::string>& ignore = {});

// The names without DistributedDataParallel's "module." prefix, as open_clip's load_state_dict
// removes it: when the first name starts with "module", the first 7 characters of every name are
// dropped (names shorter than that become empty). Other maps are returned unchanged.
TensorMap strip_module_prefix(const TensorMap& sd);

}  // namespace disco::io
