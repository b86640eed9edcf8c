// Readers for the weight files Disco Diffusion uses (models-spec §5).
//  - torch.save zip archives (guided-diffusion UNets, the secondary model, fixture dicts):
//    PyTorchStreamReader + a restricted pickle interpreter that knows only what a weights file
//    needs and never executes code.
//  - TorchScript archives (OpenAI CLIP .pt files): torch::jit::load, parameters and buffers only.
#pragma once
#include <string>

#include <torch/ordered_dict.h>
#include <ATen/Tensor.h>

namespace disco::io {

// Name -> tensor, in file order (state-dict order matters for some checks).
using TensorMap = torch::OrderedDict<std::string, at::Tensor>;

enum class FileKind {
  TorchZip,         // torch.save (>= 1.6): zip with data.pkl + data/<key>
  TorchScript,      // torch.jit.save: zip with code/ and constants.pkl
  LegacyTorchSave,  // torch.save (< 1.6) pickle stream; not supported (say how to convert)
  Unknown,
};

// Looks at the first bytes and, for zips, at the entry names. Throws CheckpointError if the
// file cannot be opened.
FileKind detect_file_kind(const std::string& path);

// Reads a torch.save zip archive whose top object is a dict (plain or OrderedDict) of tensors.
// A training checkpoint's 'state_dict' entry is taken alone (its other entries ignored), a dict
// holding a single dict ({'state_dict': {...}}) is unwrapped; other nested dicts of tensors
// are flattened with dotted names. Each storage record is read once and adopted as the storage of
// every tensor viewing it (no copy; shared storages stay shared). requires_grad is not applied.
// Throws CheckpointError on anything else (other globals, legacy or damaged files).
TensorMap load_weights_file(const std::string& path);

// The dict of tensors under the top dict's key `entry` alone (e.g. 'model' of a training checkpoint
// {'model': ..., 'optimizer': ..., 'epoch': ...}); the other entries go through the same restricted
// interpreter but are not returned (their storages are still read). An empty `entry` is
// load_weights_file. Throws CheckpointError naming the file's entries when `entry` is missing.
TensorMap load_weights_entry(const std::string& path, const std::string& entry);

// Parameters and buffers of a TorchScript archive (CLIP), names as in Python's state_dict().
TensorMap load_torchscript(const std::string& path);

// Dispatches on detect_file_kind.
TensorMap load_tensors(const std::string& path);

// Writes `tensors` as a torch.save zip archive that load_weights_file and Python's torch.load read
// back (libtorch's torch::pickle_save of a Dict[str, Tensor]: one storage per tensor, contiguous
// CPU copies, in map order). The file appears atomically (written beside `path`, then renamed).
// Throws CheckpointError when the file cannot be written.
void save_weights_file(const TensorMap& tensors, const std::string& path);

}  // namespace disco::io
