// Restricted pickle interpreter for the data.pkl of torch.save zip archives (models-spec §5.2).
// It knows only what a weights file needs: containers, scalars, strings, an allowlist of globals
// (OrderedDict, _rebuild_tensor_v2, _rebuild_parameter, torch.jit._pickle.restore_type_tag,
// torch.<X>Storage) and storage persistent ids. It never calls anything: any other global makes it refuse the file.
//
// Deliberately free of libtorch so the libFuzzer target (fuzz/pickle_fuzzer.cpp) runs the very
// same code in-process: the result is a plain description of storages and strided views, which
// weights_file.cpp turns into tensors that adopt the storage bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace disco::io::pickle {

// The torch.<X>Storage types a weights file may name.
enum class StorageDtype { Float, Half, BFloat16, Double, Long, Int, Short, Char, Byte, Bool };

// Bytes per element of a storage type.
int64_t element_size(StorageDtype dtype);
const char* storage_type_name(StorageDtype dtype);

// One storage referenced by the pickle: record data/<key>, `numel` elements of `dtype`.
struct StorageRef {
  std::string key;
  StorageDtype dtype = StorageDtype::Float;
  int64_t numel = 0;
};

// A strided view into storages[storage]; offset/sizes/strides in elements, already bounds-checked.
struct TensorRecord {
  size_t storage = 0;
  int64_t offset = 0;
  std::vector<int64_t> sizes;
  std::vector<int64_t> strides;
  bool requires_grad = false;
};

// Flattened top-level dict: (dotted name, index into tensors), in file order.
struct PickleResult {
  std::vector<StorageRef> storages;
  std::vector<TensorRecord> tensors;
  std::vector<std::pair<std::string, size_t>> entries;
};

// Supplies the raw storage records. Called once per distinct key, when the pickle first names
// it; returns the record's size in bytes (the interpreter checks it against numel * element size)
// and throws CheckpointError when the record is missing.
class RecordProvider {
 public:
  virtual ~RecordProvider() = default;
  virtual uint64_t load_record(const StorageRef& storage) = 0;
};

// Limits that keep hostile input from exhausting the stack or memory.
inline constexpr size_t kMaxStackDepth = 1u << 20;  // values on the stack
inline constexpr size_t kMaxMarkDepth = 1000;       // open MARKs
inline constexpr size_t kMaxNestedDicts = 32;       // dict nesting when flattening names
inline constexpr size_t kMaxTensorDims = 64;

// Interprets `size` bytes of pickle. `what` names the file in messages ("checkpoint 'x.pt'").
// The top object must be a dict of str -> tensor; nested dicts of tensors are flattened with
// dotted names. A dict with a 'state_dict' dict among other entries (a training checkpoint) gives
// that dict alone, and a dict holding exactly one dict ({'state_dict': {...}}) is unwrapped first.
// With a non-empty `entry`, the top object must be a dict whose string key `entry` holds a dict of
// tensors, and only that dict is flattened: the other entries (a training checkpoint's optimizer
// state, ints, floats, lists, int-keyed dicts) are interpreted under the same rules but not returned.
// Throws disco::CheckpointError on anything else, never reads outside [data, data + size).
PickleResult interpret(const uint8_t* data, size_t size, RecordProvider& records, const std::string& what,
                       const std::string& entry = {});

}  // namespace disco::io::pickle
