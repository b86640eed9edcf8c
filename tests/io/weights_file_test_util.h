// Hand-written pickles and zip archives for the checkpoint reader tests.
#pragma once
#include <caffe2/serialize/inline_container.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

namespace disco::test {

// Emits protocol-2 pickle opcodes the way Python's pickler writes a state dict.
class PickleWriter {
 public:
  PickleWriter& raw(const std::string& bytes) { b_ += bytes; return *this; }
  PickleWriter& op(char c) { b_ += c; return *this; }
  PickleWriter& proto() { return raw(std::string("\x80\x02", 2)); }
  PickleWriter& global(const std::string& module, const std::string& name) {
    return raw("c" + module + "\n" + name + "\n");
  }
  PickleWriter& str(const std::string& s) {
    op('X');
    le(s.size(), 4);
    return raw(s);
  }
  PickleWriter& integer(int64_t v) {
    if (v >= 0 && v < 256) { op('K'); le(uint64_t(v), 1); }
    else if (v >= 0 && v < 65536) { op('M'); le(uint64_t(v), 2); }
    else if (v >= INT32_MIN && v <= INT32_MAX) { op('J'); le(uint64_t(uint32_t(int32_t(v))), 4); }
    else { op('\x8a'); le(8, 1); le(uint64_t(v), 8); }
    return *this;
  }
  PickleWriter& ints(const std::vector<int64_t>& v) {
    op('(');
    for (int64_t x : v) integer(x);
    return op('t');
  }
  PickleWriter& ordered_dict() { return global("collections", "OrderedDict").op(')').op('R'); }
  // _rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())
  PickleWriter& tensor(const std::string& type, const std::string& key, int64_t numel, int64_t offset,
                       const std::vector<int64_t>& sizes, const std::vector<int64_t>& strides) {
    global("torch._utils", "_rebuild_tensor_v2").op('(');
    op('(').str("storage").global("torch", type).str(key).str("cpu").integer(numel).op('t').op('Q');
    integer(offset).ints(sizes).ints(strides).op('\x89').ordered_dict();
    return op('t').op('R');
  }
  const std::string& bytes() const { return b_; }

 private:
  void le(uint64_t v, int n) {
    for (int k = 0; k < n; ++k) b_ += static_cast<char>((v >> (8 * k)) & 0xff);
  }
  std::string b_;
};

// A fresh directory per test binary run, removed at exit by the OS temp cleaner or the next run.
inline std::string temp_dir() {
  static const std::string dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("disco_io_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d.string();
  }();
  return dir;
}

inline std::string write_file(const std::string& name, const std::string& bytes) {
  std::string path = temp_dir() + "/" + name;
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

// A torch.save-style zip: data.pkl plus data/<key> records, written by libtorch's own writer.
inline std::string write_zip(const std::string& name, const std::string& pickle,
                             const std::map<std::string, std::string>& records) {
  std::string path = temp_dir() + "/" + name;
  caffe2::serialize::PyTorchStreamWriter writer(path);
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [key, data] : records) writer.writeRecord("data/" + key, data.data(), data.size());
  writer.writeEndOfFile();
  return path;
}

template <typename T>
std::string bytes_of(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

}  // namespace disco::test
