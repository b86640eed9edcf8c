// How a run's models compute, apart from what they compute (docs/performance.md, "Levers"): one
// value with every speed and memory lever, and the one function that sets them on the models. The
// model classes read like the Python they port; the levers pick other forms of the same
// computation (fused kernels, layouts, recomputation, host memory), equal up to rounding or
// bit-identical. The memory plan chooses the memory levers and returns them in its estimate.
#pragma once
#include "disco/memory_plan.h"
#include "disco/run.h"

namespace disco {

struct LoadedModels;

struct Execution {
  bool gradient_checkpointing = true;   // the UNet's use_checkpoint (and the secondary model's, on CUDA)
  bool offload_checkpoints = false;     // checkpointed inputs wait in host memory
  bool offload_skips = false;           // the sampler's full-resolution skips wait in host memory
  bool lean_graph = false;              // the UNet's recorded graph keeps fewer activations
  bool lean_clip_mlp = false;           // the ViTs' graphs keep their MLPs' inputs, not hidden layers
  bool channels_last = false;           // the UNet torso in NHWC
  bool fused_attention = true;          // attention in fused kernels where the libtorch has them
};

// The levers of a run: the settings' checkpointing, the options' layout and attention, and the
// memory levers `plan` chose.
Execution execution_for(const Settings& s, const RunOptions& o, const MemoryEstimate& plan = {});

// Sets every lever on the models (those absent are skipped).
void apply_execution(LoadedModels& m, const Execution& e);

}  // namespace disco
