// What a weights file is: `disco inspect FILE`.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace disco {

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;
  std::string dtype;  // "float32", "float16", ...
};

struct ModelFileInfo {
  std::string path;
  std::string format;       // "torch.save zip" | "TorchScript archive"
  std::string description;  // e.g. "guided-diffusion UNet, preset 512x512_diffusion_uncond_finetune_008100"
  int64_t n_tensors = 0;
  int64_t n_parameters = 0;                 // elements of floating-point tensors
  std::map<std::string, int64_t> dtypes;    // dtype -> tensor count
  std::vector<TensorInfo> tensors;          // file order
};

// Reads the file (never executes code from it) and recognises the diffusion UNet family and its
// presets, DD's secondary model, OpenAI CLIP models and OpenCLIP's published checkpoints (by file name,
// which alone tells their weights apart). Throws disco::Error subclasses for files
// that cannot be read; a readable file of tensors that is none of these is reported as such.
ModelFileInfo inspect_model_file(const std::string& path);

}  // namespace disco
