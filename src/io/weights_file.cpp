// Checkpoint readers, models-spec §5: torch.save zips through PyTorchStreamReader and the
// restricted pickle interpreter (pickle_reader.h); TorchScript through torch::jit::load.
#include "io/weights_file.h"

#include <caffe2/serialize/inline_container.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unordered_map>

#include <unistd.h>

#include "common/error.h"
#include "io/pickle_reader.h"

namespace disco::io {
namespace {

std::string quoted(const std::string& path) { return "'" + path + "'"; }

// c10 messages carry a backtrace and several lines; users get the first line.
std::string first_line(const c10::Error& e) {
  std::string s = e.what_without_backtrace();
  return s.substr(0, s.find('\n'));
}

std::string read_head(const std::string& path, size_t n) {
  std::ifstream f(path, std::ios::binary);
  DISCO_CHECK(f, CheckpointError, "cannot open checkpoint ", quoted(path), ": check the path and permissions.");
  std::string head(n, '\0');
  f.read(head.data(), static_cast<std::streamsize>(n));
  head.resize(static_cast<size_t>(f.gcount()));
  return head;
}

bool is_legacy_header(const std::string& h) {
  // PROTO 2, LONG1 of 10 bytes: the magic number 0x1950a86a20f9469cfc6c, little-endian.
  static const unsigned char kMagic[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                         0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};
  return h.size() >= sizeof kMagic && std::equal(std::begin(kMagic), std::end(kMagic), h.begin(),
                                                 [](unsigned char a, char b) { return a == static_cast<unsigned char>(b); });
}

std::unique_ptr<caffe2::serialize::PyTorchStreamReader> open_zip(const std::string& path) {
  try {
    return std::make_unique<caffe2::serialize::PyTorchStreamReader>(path);
  } catch (const c10::Error& e) {
    throw CheckpointError(detail::concat(
        "checkpoint ", quoted(path), " starts like a zip archive but cannot be read as one (", first_line(e),
        "); it is probably truncated or damaged: download it again."));
  }
}

bool is_torchscript(caffe2::serialize::PyTorchStreamReader& reader) {
  for (const auto& name : reader.getAllRecords())
    if (name == "constants.pkl" || name.rfind("code/", 0) == 0) return true;
  return false;
}

// The user-facing reason a file of this kind cannot be read as a torch.save zip.
[[noreturn]] void refuse(FileKind kind, const std::string& path) {
  switch (kind) {
    case FileKind::LegacyTorchSave:
      throw CheckpointError(detail::concat(
          "checkpoint ", quoted(path), " is a pre-1.6 torch.save file (legacy non-zip format), which disco-cpp "
          "does not read; convert it once with Python: python -c \"import torch; torch.save(torch.load('old.pt'), "
          "'new.pt')\" (torch.save writes the zip format by default, _use_new_zipfile_serialization=True)."));
    case FileKind::TorchScript:
      throw CheckpointError(detail::concat(
          "checkpoint ", quoted(path), " is a TorchScript archive (torch.jit.save), not a torch.save weights "
          "file; read it with load_torchscript (load_tensors picks the right reader)."));
    case FileKind::TorchZip:
      throw CheckpointError(detail::concat("checkpoint ", quoted(path), " is a torch.save file, not TorchScript; "
                                           "read it with load_weights_file (load_tensors picks the right reader)."));
    case FileKind::Unknown: break;
  }
  std::string head = read_head(path, 64);
  if (head.empty())
    throw CheckpointError(detail::concat("checkpoint ", quoted(path), " is empty (0 bytes): the download or copy "
                                         "did not finish; download it again."));
  std::string lower = head;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t start = lower.find_first_not_of(" \t\r\n\xef\xbb\xbf");
  if (start != std::string::npos && (lower.compare(start, 5, "<html") == 0 || lower.compare(start, 9, "<!doctype") == 0 ||
                                     lower.compare(start, 5, "<?xml") == 0))
    throw CheckpointError(detail::concat("checkpoint ", quoted(path), " is an HTML/XML page, not a PyTorch file (an "
                                         "error or login page saved in place of the download?); download it again."));
  bool text = std::all_of(head.begin(), head.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 || u == '\n' || u == '\r' || u == '\t';
  });
  throw CheckpointError(detail::concat("checkpoint ", quoted(path), text ? " is a text file" : " has an unknown format",
                                       ", not a PyTorch zip archive (it does not start with 'PK\\3\\4'); check that the "
                                       "path names the downloaded .pt/.pth file."));
}

// Reads each data/<key> record once and keeps its bytes as the storage the tensors will view.
class ZipRecords : public pickle::RecordProvider {
 public:
  ZipRecords(caffe2::serialize::PyTorchStreamReader& reader, const std::string& path) : reader_(reader), path_(path) {}

  uint64_t load_record(const pickle::StorageRef& s) override {
    std::string name = "data/" + s.key;
    DISCO_CHECK(reader_.hasRecord(name), CheckpointError, "checkpoint ", quoted(path_), " refers to storage record ",
                name, ", which the archive lacks; the file is damaged or incomplete.");
    auto [data, nbytes] = reader_.getRecord(name);
    storages_.emplace(s.key, c10::Storage(c10::Storage::use_byte_size_t(), static_cast<int64_t>(nbytes),
                                          std::move(data), /*allocator=*/nullptr, /*resizable=*/false));
    return nbytes;
  }
  const c10::Storage& storage(const std::string& key) const { return storages_.at(key); }

 private:
  caffe2::serialize::PyTorchStreamReader& reader_;
  const std::string& path_;
  std::unordered_map<std::string, c10::Storage> storages_;
};

at::ScalarType scalar_type(pickle::StorageDtype d) {
  using D = pickle::StorageDtype;
  switch (d) {
    case D::Float: return at::kFloat;
    case D::Half: return at::kHalf;
    case D::BFloat16: return at::kBFloat16;
    case D::Double: return at::kDouble;
    case D::Long: return at::kLong;
    case D::Int: return at::kInt;
    case D::Short: return at::kShort;
    case D::Char: return at::kChar;
    case D::Byte: return at::kByte;
    case D::Bool: return at::kBool;
  }
  return at::kFloat;
}

// Module state in Python state_dict() order: own parameters, own buffers, then each child.
void collect_state(const torch::jit::Module& m, const std::string& prefix, TensorMap& out) {
  for (const auto& p : m.named_parameters(/*recurse=*/false)) out.insert(prefix + p.name, p.value);
  for (const auto& b : m.named_buffers(/*recurse=*/false)) out.insert(prefix + b.name, b.value);
  for (const auto& c : m.named_children()) collect_state(c.value, prefix + c.name + ".", out);
}

}  // namespace

FileKind detect_file_kind(const std::string& path) {
  std::string head = read_head(path, 16);
  if (head.size() >= 4 && head.compare(0, 4, "PK\x03\x04") == 0) {
    try {
      caffe2::serialize::PyTorchStreamReader reader(path);
      return is_torchscript(reader) ? FileKind::TorchScript : FileKind::TorchZip;
    } catch (const c10::Error&) {
      return FileKind::TorchZip;  // a damaged zip: load_weights_file says what is wrong
    }
  }
  if (is_legacy_header(head)) return FileKind::LegacyTorchSave;
  return FileKind::Unknown;
}

TensorMap load_weights_file(const std::string& path) { return load_weights_entry(path, ""); }

TensorMap load_weights_entry(const std::string& path, const std::string& entry) {
  FileKind kind = detect_file_kind(path);
  if (kind != FileKind::TorchZip) refuse(kind, path);
  auto reader = open_zip(path);
  const std::string what = "checkpoint " + quoted(path);
  try {
    DISCO_CHECK(reader->hasRecord("data.pkl"), CheckpointError, what,
                " is a zip archive without data.pkl, so it was not written by torch.save; check the file.");
    auto [pkl, pkl_size] = reader->getRecord("data.pkl");
    ZipRecords records(*reader, path);
    pickle::PickleResult parsed =
        pickle::interpret(static_cast<const uint8_t*>(pkl.get()), pkl_size, records, what, entry);

    // Each tensor is a view of its storage's bytes: shared storages stay shared, nothing is copied.
    TensorMap out;
    out.reserve(parsed.entries.size());
    for (const auto& [name, index] : parsed.entries) {
      const pickle::TensorRecord& t = parsed.tensors[index];
      const pickle::StorageRef& s = parsed.storages[t.storage];
      at::Tensor tensor = at::empty({0}, at::TensorOptions().dtype(scalar_type(s.dtype)));
      tensor.set_(records.storage(s.key), t.offset, t.sizes, t.strides);
      out.insert(name, tensor);
    }
    return out;
  } catch (const c10::Error& e) {
    throw CheckpointError(detail::concat(what, " could not be read (", first_line(e),
                                         "); the file is damaged: download it again."));
  }
}

TensorMap load_torchscript(const std::string& path) {
  FileKind kind = detect_file_kind(path);
  if (kind != FileKind::TorchScript) refuse(kind, path);
  torch::jit::Module module;
  try {
    module = torch::jit::load(path, torch::kCPU);
  } catch (const c10::Error& e) {
    throw CheckpointError(detail::concat(
        "TorchScript file ", quoted(path), " could not be loaded (", first_line(e),
        "); use the original OpenAI CLIP .pt download, and a libtorch at least as new as the one that saved it."));
  }
  TensorMap out;
  collect_state(module, "", out);
  return out;
}

TensorMap load_tensors(const std::string& path) {
  switch (detect_file_kind(path)) {
    case FileKind::TorchZip: return load_weights_file(path);
    case FileKind::TorchScript: return load_torchscript(path);
    case FileKind::LegacyTorchSave: refuse(FileKind::LegacyTorchSave, path);
    case FileKind::Unknown: break;
  }
  refuse(FileKind::Unknown, path);
}

void save_weights_file(const TensorMap& tensors, const std::string& path) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& item : tensors) {
    // A view would carry its whole storage into the file; a clone carries exactly its elements.
    at::Tensor t = item.value().detach().to(at::kCPU).clone(at::MemoryFormat::Contiguous);
    dict.insert(item.key(), t);
  }
  const std::vector<char> bytes = torch::pickle_save(dict);

  const std::string tmp = path + ".part" + std::to_string(::getpid());  // private to this process
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    DISCO_CHECK(out, CheckpointError, "cannot write ", quoted(tmp), ": check that the folder exists and is writable.");
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw CheckpointError(detail::concat("writing ", quoted(tmp), " failed (disk full?)."));
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw CheckpointError(detail::concat("cannot rename ", quoted(tmp), " to ", quoted(path), ": ", ec.message(), "."));
  }
}

}  // namespace disco::io
