#include "disco/execution.h"

#include "disco/run_internal.h"

namespace disco {

Execution execution_for(const Settings& s, const RunOptions& o, const MemoryEstimate& plan) {
  Execution e;
  e.gradient_checkpointing = s.use_checkpoint;
  e.offload_checkpoints = plan.offload_checkpoints;
  e.offload_skips = plan.offload_skips;
  e.lean_graph = plan.lean_graph;
  e.lean_clip_mlp = plan.lean_clip_mlp;
  e.channels_last = o.channels_last;
  e.fused_attention = o.fused_attention;
  return e;
}

void apply_execution(LoadedModels& m, const Execution& e) {
  if (!m.unet.is_empty()) {
    m.unet->set_gradient_checkpointing(e.gradient_checkpointing, e.offload_checkpoints);
    m.unet->set_offload_skips(e.offload_skips);
    m.unet->set_lean_graph(e.lean_graph);
    m.unet->set_channels_last(e.channels_last);
    m.unet->set_fused_attention(e.fused_attention);
  }
  // The secondary model's graph is small: checkpointing it pays only where memory is the GPU's.
  if (!m.secondary.is_empty()) m.secondary->set_gradient_checkpointing(e.gradient_checkpointing && m.device.is_cuda());
  for (auto& c : m.clip) {
    c.second->set_lean_image_mlp(e.lean_clip_mlp);
    c.second->set_fused_attention(e.fused_attention);
  }
}

}  // namespace disco
