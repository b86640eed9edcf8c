// Precompiled header: the heavy libtorch headers, parsed once per build.
#pragma once
#include <torch/torch.h>
#include <torch/script.h>
