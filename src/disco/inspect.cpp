#include "disco/inspect.h"

#include <torch/torch.h>

#include "common/error.h"
#include "io/checkpoint.h"

namespace disco {
namespace {

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Short: return "int16";
    case c10::ScalarType::Char: return "int8";
    case c10::ScalarType::Byte: return "uint8";
    case c10::ScalarType::Bool: return "bool";
    default: return c10::toString(t);
  }
}

// Which network a state dict belongs to, from its keys and shapes.
std::string describe(const io::TensorMap& sd, io::FileKind kind) {
  if (sd.contains("time_embed.0.weight") && sd.contains("input_blocks.0.0.weight"))
    return "guided-diffusion UNet";
  if (sd.contains("timestep_embed.weight") && sd.contains("net.0.0.weight"))
    return "secondary model (SecondaryDiffusionImageNet2)";
  if (sd.contains("token_embedding.weight") && sd.contains("visual.conv1.weight")) return "CLIP model";
  return "a file of " + std::to_string(sd.size()) + " tensors that is no model disco-cpp knows";
}

}  // namespace

ModelFileInfo inspect_model_file(const std::string& path) {
  ModelFileInfo info;
  info.path = path;
  io::FileKind kind = io::detect_file_kind(path);
  io::TensorMap sd = io::load_tensors(path);
  info.format = kind == io::FileKind::TorchScript ? "TorchScript archive" : "torch.save zip archive";
  info.description = describe(sd, kind);
  for (const auto& item : sd) {
    const at::Tensor& t = item.value();
    TensorInfo ti{item.key(), t.sizes().vec(), dtype_name(t.scalar_type())};
    info.dtypes[ti.dtype] += 1;
    if (t.is_floating_point()) info.n_parameters += t.numel();
    info.tensors.push_back(std::move(ti));
  }
  info.n_tensors = int64_t(sd.size());
  return info;
}

}  // namespace disco
