// TEMPORARY: placeholder until the restricted unpickler lands (uses torch::pickle_load,
// which reads plain dicts only).
#include "io/checkpoint.h"

#include <fstream>
#include <iterator>

#include "common/error.h"

namespace disco::io {

FileKind detect_file_kind(const std::string& path) { return FileKind::TorchZip; }

TensorMap load_checkpoint(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DISCO_CHECK(f, CheckpointError, "cannot open '", path, "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto iv = torch::pickle_load(bytes);
  TensorMap out;
  for (const auto& kv : iv.toGenericDict()) out.insert(kv.key().toStringRef(), kv.value().toTensor());
  return out;
}

TensorMap load_torchscript(const std::string& path) {
  auto m = torch::jit::load(path, torch::kCPU);
  TensorMap out;
  for (const auto& p : m.named_parameters(true)) out.insert(p.name, p.value);
  for (const auto& b : m.named_buffers(true)) out.insert(b.name, b.value);
  return out;
}

TensorMap load_tensors(const std::string& path) { return load_checkpoint(path); }

}  // namespace disco::io
