// Restricted pickle interpreter, models-spec §5.2. See pickle_reader.h for what it accepts.
#include "io/pickle_reader.h"

#include <cstring>
#include <deque>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"

namespace disco::io::pickle {

int64_t element_size(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::Double:
    case StorageDtype::Long: return 8;
    case StorageDtype::Float:
    case StorageDtype::Int: return 4;
    case StorageDtype::Half:
    case StorageDtype::BFloat16:
    case StorageDtype::Short: return 2;
    case StorageDtype::Char:
    case StorageDtype::Byte:
    case StorageDtype::Bool: return 1;
  }
  return 1;
}

namespace {

struct StorageName {
  const char* name;
  StorageDtype dtype;
};
constexpr StorageName kStorageTypes[] = {
    {"FloatStorage", StorageDtype::Float}, {"HalfStorage", StorageDtype::Half},
    {"BFloat16Storage", StorageDtype::BFloat16}, {"DoubleStorage", StorageDtype::Double},
    {"LongStorage", StorageDtype::Long}, {"IntStorage", StorageDtype::Int},
    {"ShortStorage", StorageDtype::Short}, {"CharStorage", StorageDtype::Char},
    {"ByteStorage", StorageDtype::Byte}, {"BoolStorage", StorageDtype::Bool},
};

// The only callables a weights file needs. None of them runs code: each is emulated below.
enum class Global { OrderedDict, RebuildTensorV2, RebuildParameter, RestoreTypeTag, StorageType };

enum class Kind : uint8_t { None, Bool, Int, Float, String, Tuple, List, Dict, Global, Storage, Tensor };

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::None: return "None";
    case Kind::Bool: return "a bool";
    case Kind::Int: return "an int";
    case Kind::Float: return "a float";
    case Kind::String: return "a string";
    case Kind::Tuple: return "a tuple";
    case Kind::List: return "a list";
    case Kind::Dict: return "a dict";
    case Kind::Global: return "a class or function";
    case Kind::Storage: return "a storage";
    case Kind::Tensor: return "a tensor";
  }
  return "an object";
}

// Values are small handles; strings and containers live in arenas owned by the interpreter, so
// shared (memoised) objects, self-referencing dicts and deep nesting cost no recursion or
// reference counting.
struct Value {
  Kind kind = Kind::None;
  int64_t i = 0;  // Bool/Int value, Global enum, StorageDtype for Global::StorageType
  double f = 0;
  size_t ref = 0;  // index into strings_, containers_, storages or tensors
};

struct Container {
  std::vector<Value> items;  // tuple/list items, dict values
  std::vector<Value> keys;   // dict keys
};

enum Op : uint8_t {
  MARK = '(', STOP = '.', POP = '0', BINFLOAT = 'G', BININT = 'J', BININT1 = 'K', BININT2 = 'M',
  NONE = 'N', BINPERSID = 'Q', REDUCE = 'R', BINSTRING = 'T', SHORT_BINSTRING = 'U',
  BINUNICODE = 'X', APPEND = 'a', BUILD = 'b', GLOBAL = 'c', DICT = 'd', EMPTY_DICT = '}',
  APPENDS = 'e', BINGET = 'h', LONG_BINGET = 'j', LIST = 'l', EMPTY_LIST = ']', BINPUT = 'q',
  LONG_BINPUT = 'r', SETITEM = 's', TUPLE = 't', EMPTY_TUPLE = ')', SETITEMS = 'u',
  PROTO = 0x80, NEWOBJ = 0x81, TUPLE1 = 0x85, TUPLE2 = 0x86, TUPLE3 = 0x87, NEWTRUE = 0x88,
  NEWFALSE = 0x89, LONG1 = 0x8a,
};

class Interpreter {
 public:
  Interpreter(const uint8_t* data, size_t size, RecordProvider& records, const std::string& what)
      : data_(data), size_(size), records_(records), what_(what) {}

  PickleResult run(const std::string& entry) {
    Value top = execute();
    if (entry.empty()) flatten_top(top);
    else flatten_entry(top, entry);
    return std::move(result_);
  }

 private:
  template <typename... Args>
  [[noreturn]] void fail(Args&&... parts) const {
    std::string where = flattening_ ? "" : detail::concat(" (opcode at byte ", op_pos_, ")");
    throw CheckpointError(detail::concat(what_, ": data.pkl ", std::forward<Args>(parts)..., where, "."));
  }

  // ---- reading the pickle bytes; every read is bounds-checked ----
  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) fail("is truncated: an opcode needs ", n, " more bytes but only ", size_ - pos_, " remain");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t k = 0; k < n; ++k) v |= uint64_t(p[k]) << (8 * k);
    return v;
  }
  std::string read_line() {
    constexpr size_t kMaxName = 256;
    size_t start = pos_;
    while (pos_ < size_ && data_[pos_] != '\n') {
      if (pos_ - start >= kMaxName) fail("has a GLOBAL name longer than ", kMaxName, " characters");
      ++pos_;
    }
    if (pos_ >= size_) fail("is truncated inside a GLOBAL name");
    std::string s(reinterpret_cast<const char*>(data_ + start), pos_ - start);
    ++pos_;
    return s;
  }
  std::string read_string(size_t n) {
    const uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), n);
  }

  // ---- the stack; MARK starts a new frame that nothing may pop below ----
  size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Value v) {
    if (stack_.size() >= kMaxStackDepth) fail("needs more than ", kMaxStackDepth, " stack entries");
    stack_.push_back(v);
  }
  Value pop() {
    if (stack_.size() <= frame_base()) fail("pops from an empty stack");
    Value v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Value& top() {
    if (stack_.size() <= frame_base()) fail("reads from an empty stack");
    return stack_.back();
  }
  std::vector<Value> pop_mark() {
    if (marks_.empty()) fail("uses a MARK that was never set");
    size_t base = marks_.back();
    marks_.pop_back();
    std::vector<Value> items(stack_.begin() + static_cast<std::ptrdiff_t>(base), stack_.end());
    stack_.resize(base);
    return items;
  }

  Value make_string(std::string s) {
    strings_.push_back(std::move(s));
    return Value{Kind::String, 0, 0, strings_.size() - 1};
  }
  Value make_container(Kind kind, std::vector<Value> items = {}) {
    containers_.push_back(Container{std::move(items), {}});
    return Value{kind, 0, 0, containers_.size() - 1};
  }
  Container& container_of(const Value& v, Kind kind, const char* op) {
    if (v.kind != kind) fail(op, " expects ", kind_name(kind), " but finds ", kind_name(v.kind));
    return containers_[v.ref];
  }
  void set_items(Container& dict, const std::vector<Value>& kv, const char* op) {
    if (kv.size() % 2 != 0) fail(op, " has an odd number of keys and values");
    for (size_t k = 0; k < kv.size(); k += 2) {
      dict.keys.push_back(kv[k]);
      dict.items.push_back(kv[k + 1]);
    }
  }
  int64_t as_int(const Value& v, const char* what) {
    if (v.kind != Kind::Int && v.kind != Kind::Bool) fail("gives ", kind_name(v.kind), " where ", what, " (an int) is expected");
    return v.i;
  }
  const std::string& as_string(const Value& v, const char* what) {
    if (v.kind != Kind::String) fail("gives ", kind_name(v.kind), " where ", what, " (a string) is expected");
    return strings_[v.ref];
  }
  std::vector<int64_t> as_int_tuple(const Value& v, const char* what) {
    const Container& c = container_of(v, Kind::Tuple, what);
    if (c.items.size() > kMaxTensorDims) fail("gives a tensor with more than ", kMaxTensorDims, " dimensions");
    std::vector<int64_t> out;
    for (const Value& x : c.items) out.push_back(as_int(x, what));
    return out;
  }

  // ---- opcodes ----
  Value execute();
  void op_global();
  void op_persistent_id();
  void op_call(const char* op);
  Value rebuild_tensor(const std::vector<Value>& args);
  void flatten_top(const Value& top);
  void flatten_entry(const Value& top, const std::string& entry);
  void flatten(const Value& dict, const std::string& prefix, size_t depth);

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  bool flattening_ = false;
  RecordProvider& records_;
  const std::string& what_;

  std::vector<Value> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint32_t, Value> memo_;
  std::deque<std::string> strings_;
  std::deque<Container> containers_;
  std::unordered_map<std::string, size_t> storage_by_key_;
  std::unordered_map<std::string, size_t> entry_by_name_;
  std::unordered_set<size_t> flattened_dicts_;
  PickleResult result_;
};

Value Interpreter::execute() {
  while (true) {
    op_pos_ = pos_;
    if (pos_ >= size_) fail("ends without a STOP opcode (the file is truncated or damaged)");
    uint8_t op = data_[pos_++];
    switch (op) {
      case PROTO: {
        uint64_t v = read_le(1);
        if (v > 5) fail("uses pickle protocol ", v, ", which does not exist");
        break;
      }
      case STOP: {
        if (stack_.empty()) fail("stops with an empty stack");
        return stack_.back();
      }
      case NONE: push(Value{}); break;
      case NEWTRUE: push(Value{Kind::Bool, 1}); break;
      case NEWFALSE: push(Value{Kind::Bool, 0}); break;
      case BININT1: push(Value{Kind::Int, int64_t(read_le(1))}); break;
      case BININT2: push(Value{Kind::Int, int64_t(read_le(2))}); break;
      case BININT: push(Value{Kind::Int, int64_t(int32_t(uint32_t(read_le(4))))}); break;
      case LONG1: {
        size_t n = size_t(read_le(1));
        const uint8_t* p = take(n);
        uint64_t v = 0;
        for (size_t k = 0; k < n && k < 8; ++k) v |= uint64_t(p[k]) << (8 * k);
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);  // sign-extend
        bool negative = n > 0 && (p[std::min<size_t>(n, 8) - 1] & 0x80);
        for (size_t k = 8; k < n; ++k)
          if (p[k] != (negative ? 0xff : 0x00)) fail("has an integer wider than 64 bits");
        push(Value{Kind::Int, int64_t(v)});
        break;
      }
      case BINFLOAT: {
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int k = 0; k < 8; ++k) bits = (bits << 8) | p[k];  // big-endian
        double d;
        std::memcpy(&d, &bits, sizeof d);
        push(Value{Kind::Float, 0, d});
        break;
      }
      case BINUNICODE: push(make_string(read_string(size_t(read_le(4))))); break;
      case SHORT_BINSTRING: push(make_string(read_string(size_t(read_le(1))))); break;
      case BINSTRING: {
        int32_t n = int32_t(uint32_t(read_le(4)));
        if (n < 0) fail("has a string with negative length ", n);
        push(make_string(read_string(size_t(n))));
        break;
      }
      case MARK:
        if (marks_.size() >= kMaxMarkDepth) fail("nests MARK deeper than ", kMaxMarkDepth, " levels");
        marks_.push_back(stack_.size());
        break;
      case POP:
        if (stack_.size() > frame_base()) stack_.pop_back();
        else pop_mark();
        break;
      case EMPTY_TUPLE: push(make_container(Kind::Tuple)); break;
      case TUPLE: push(make_container(Kind::Tuple, pop_mark())); break;
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        size_t n = size_t(op - TUPLE1 + 1);
        std::vector<Value> items(n);
        for (size_t k = n; k-- > 0;) items[k] = pop();
        push(make_container(Kind::Tuple, std::move(items)));
        break;
      }
      case EMPTY_LIST: push(make_container(Kind::List)); break;
      case LIST: push(make_container(Kind::List, pop_mark())); break;
      case APPEND: {
        Value v = pop();
        container_of(top(), Kind::List, "APPEND").items.push_back(v);
        break;
      }
      case APPENDS: {
        std::vector<Value> items = pop_mark();
        auto& list = container_of(top(), Kind::List, "APPENDS").items;
        list.insert(list.end(), items.begin(), items.end());
        break;
      }
      case EMPTY_DICT: push(make_container(Kind::Dict)); break;
      case DICT: {
        std::vector<Value> kv = pop_mark();
        Value d = make_container(Kind::Dict);
        set_items(containers_[d.ref], kv, "DICT");
        push(d);
        break;
      }
      case SETITEM: {
        Value v = pop();
        Value k = pop();
        set_items(container_of(top(), Kind::Dict, "SETITEM"), {k, v}, "SETITEM");
        break;
      }
      case SETITEMS: {
        std::vector<Value> kv = pop_mark();
        set_items(container_of(top(), Kind::Dict, "SETITEMS"), kv, "SETITEMS");
        break;
      }
      case BINPUT: memo_[uint32_t(read_le(1))] = top(); break;
      case LONG_BINPUT: memo_[uint32_t(read_le(4))] = top(); break;
      case BINGET:
      case LONG_BINGET: {
        uint32_t idx = uint32_t(read_le(op == BINGET ? 1 : 4));
        auto it = memo_.find(idx);
        if (it == memo_.end()) fail("reads memo entry ", idx, ", which was never stored");
        push(it->second);
        break;
      }
      case GLOBAL: op_global(); break;
      case REDUCE: op_call("REDUCE"); break;
      case NEWOBJ: op_call("NEWOBJ"); break;
      case BUILD:
        // The state of an OrderedDict is its _metadata attribute: not needed for weights.
        pop();
        top();
        break;
      case BINPERSID: op_persistent_id(); break;
      default: {
        static const char* hex = "0123456789abcdef";
        std::string code = std::string("0x") + hex[op >> 4] + hex[op & 15];
        fail("contains opcode ", code, ", which a plain torch.save weights file does not use; the file was refused");
      }
    }
  }
}

void Interpreter::op_global() {
  std::string module = read_line();
  std::string name = read_line();
  if (module == "collections" && name == "OrderedDict") {
    push(Value{Kind::Global, int64_t(Global::OrderedDict)});
    return;
  }
  if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    push(Value{Kind::Global, int64_t(Global::RebuildTensorV2)});
    return;
  }
  // torch.save of a dict holding nn.Parameter objects (rather than state_dict() tensors).
  if (module == "torch._utils" && name == "_rebuild_parameter") {
    push(Value{Kind::Global, int64_t(Global::RebuildParameter)});
    return;
  }
  // libtorch's torch::pickle_save tags a typed dict or list with its TorchScript type
  // (restore_type_tag(value, 'Dict[str, Tensor]')); Python returns the value unchanged.
  if (module == "torch.jit._pickle" && name == "restore_type_tag") {
    push(Value{Kind::Global, int64_t(Global::RestoreTypeTag)});
    return;
  }
  if (module == "torch") {
    for (const auto& s : kStorageTypes)
      if (name == s.name) {
        Value v{Kind::Global, int64_t(Global::StorageType)};
        v.ref = size_t(s.dtype);
        push(v);
        return;
      }
  }
  fail("names the global '", module, ".", name, "', which a plain weights file never contains; the file is not a plain weights file and was refused (loading it in Python could run code)");
}

void Interpreter::op_call(const char* op) {
  Value args_v = pop();
  Value callable = pop();
  if (callable.kind != Kind::Global) fail(op, " calls ", kind_name(callable.kind), ", which is not callable");
  std::vector<Value> args = container_of(args_v, Kind::Tuple, op).items;
  switch (Global(callable.i)) {
    case Global::OrderedDict:
      if (!args.empty()) fail("calls OrderedDict with arguments; only OrderedDict() is supported");
      push(make_container(Kind::Dict));
      return;
    case Global::RebuildTensorV2: push(rebuild_tensor(args)); return;
    case Global::RebuildParameter: {
      // _rebuild_parameter(data, requires_grad, backward_hooks)
      if (args.size() != 3 || args[0].kind != Kind::Tensor) fail("calls _rebuild_parameter with unexpected arguments");
      TensorRecord t = result_.tensors[args[0].ref];
      t.requires_grad = as_int(args[1], "requires_grad") != 0;
      result_.tensors.push_back(std::move(t));
      push(Value{Kind::Tensor, 0, 0, result_.tensors.size() - 1});
      return;
    }
    case Global::RestoreTypeTag:
      // restore_type_tag(value, type_str): the type string is a label, never evaluated.
      if (args.size() != 2 || (args[0].kind != Kind::Dict && args[0].kind != Kind::List) ||
          args[1].kind != Kind::String)
        fail("calls restore_type_tag with unexpected arguments; only (dict or list, type name) is supported");
      push(args[0]);
      return;
    case Global::StorageType: fail("calls a storage type; storages may only appear as persistent ids");
  }
}

void Interpreter::op_persistent_id() {
  Value pid = pop();
  if (pid.kind != Kind::Tuple) fail("has a persistent id that is ", kind_name(pid.kind), ", not a tuple");
  const std::vector<Value> f = containers_[pid.ref].items;
  if (f.size() != 5 || f[0].kind != Kind::String || strings_[f[0].ref] != "storage")
    fail("has a persistent id that is not ('storage', type, key, location, numel)");
  if (f[1].kind != Kind::Global || Global(f[1].i) != Global::StorageType)
    fail("has a storage whose type is not a torch.<X>Storage");
  StorageRef ref;
  ref.dtype = StorageDtype(f[1].ref);
  ref.key = as_string(f[2], "the storage key");
  as_string(f[3], "the storage location");
  ref.numel = as_int(f[4], "the storage size");
  if (ref.numel < 0) fail("gives storage '", ref.key, "' a negative size ", ref.numel);

  auto it = storage_by_key_.find(ref.key);
  if (it != storage_by_key_.end()) {
    const StorageRef& seen = result_.storages[it->second];
    if (seen.dtype != ref.dtype || seen.numel != ref.numel)
      fail("describes storage '", ref.key, "' twice with different types or sizes");
    push(Value{Kind::Storage, 0, 0, it->second});
    return;
  }
  int64_t elsize = element_size(ref.dtype);
  int64_t want = 0;
  if (__builtin_mul_overflow(ref.numel, elsize, &want)) fail("gives storage '", ref.key, "' an impossible size ", ref.numel);
  uint64_t got = records_.load_record(ref);
  if (got != uint64_t(want))
    fail("says storage '", ref.key, "' holds ", ref.numel, " ", storage_type_name(ref.dtype), " elements (",
         want, " bytes) but record data/", ref.key, " has ", got, " bytes; the file is damaged");
  result_.storages.push_back(ref);
  storage_by_key_.emplace(ref.key, result_.storages.size() - 1);
  push(Value{Kind::Storage, 0, 0, result_.storages.size() - 1});
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
Value Interpreter::rebuild_tensor(const std::vector<Value>& args) {
  if (args.size() < 6 || args.size() > 7) fail("calls _rebuild_tensor_v2 with ", args.size(), " arguments instead of 6 or 7");
  if (args[0].kind != Kind::Storage) fail("rebuilds a tensor from ", kind_name(args[0].kind), " instead of a storage");
  TensorRecord t;
  t.storage = args[0].ref;
  t.offset = as_int(args[1], "the storage offset");
  t.sizes = as_int_tuple(args[2], "the tensor size");
  t.strides = as_int_tuple(args[3], "the tensor stride");
  t.requires_grad = as_int(args[4], "requires_grad") != 0;

  const StorageRef& s = result_.storages[t.storage];
  if (t.sizes.size() != t.strides.size())
    fail("gives a tensor ", t.sizes.size(), " sizes but ", t.strides.size(), " strides");
  if (t.offset < 0 || t.offset > s.numel)
    fail("places a tensor at offset ", t.offset, " of storage '", s.key, "', which has ", s.numel, " elements");
  int64_t numel = 1;
  int64_t last = t.offset;  // element index of the view's last element
  bool overflow = false;
  for (size_t d = 0; d < t.sizes.size(); ++d) {
    if (t.sizes[d] < 0 || t.strides[d] < 0)
      fail("gives a tensor a negative size or stride (", t.sizes[d], ", ", t.strides[d], ")");
    overflow |= __builtin_mul_overflow(numel, t.sizes[d], &numel);
  }
  if (overflow) fail("gives a tensor more elements than fit in 64 bits");
  if (numel > 0) {
    for (size_t d = 0; d < t.sizes.size(); ++d) {
      int64_t extent = 0;
      overflow |= __builtin_mul_overflow(t.sizes[d] - 1, t.strides[d], &extent);
      overflow |= __builtin_add_overflow(last, extent, &last);
    }
    if (overflow || last >= s.numel)
      fail("has a tensor that reaches past the end of storage '", s.key, "' (", s.numel,
           " elements; offset ", t.offset, "); the file is damaged");
  }
  result_.tensors.push_back(std::move(t));
  return Value{Kind::Tensor, 0, 0, result_.tensors.size() - 1};
}

void Interpreter::flatten_top(const Value& top) {
  flattening_ = true;
  if (top.kind != Kind::Dict) fail("holds ", kind_name(top.kind), " instead of a dict of tensors");
  Value dict = top;
  // A training checkpoint ({'epoch': 32, 'name': ..., 'state_dict': {...}, 'optimizer': ...}, as
  // open_clip saves them): the weights are its 'state_dict', the rest is ignored, as open_clip's
  // load_state_dict does.
  const Container& t = containers_[top.ref];
  for (size_t k = 0; k < t.items.size(); ++k)
    if (t.keys[k].kind == Kind::String && strings_[t.keys[k].ref] == "state_dict" && t.items[k].kind == Kind::Dict)
      dict = t.items[k];
  // {'state_dict': {...}} / {'model': {...}}: the weights are the single inner dict.
  for (size_t depth = 0; depth < kMaxNestedDicts; ++depth) {
    const Container& c = containers_[dict.ref];
    if (c.items.size() != 1 || c.items[0].kind != Kind::Dict) break;
    dict = c.items[0];
  }
  flatten(dict, "", 0);
}

void Interpreter::flatten_entry(const Value& top, const std::string& entry) {
  flattening_ = true;
  if (top.kind != Kind::Dict) fail("holds ", kind_name(top.kind), " instead of a dict with an entry '", entry, "'");
  const Container& t = containers_[top.ref];
  constexpr size_t kNamesShown = 6;  // enough to recognise the file, short enough for one line
  std::string names;
  size_t named = 0;
  for (size_t k = 0; k < t.items.size(); ++k) {
    if (t.keys[k].kind != Kind::String) continue;
    const std::string& name = strings_[t.keys[k].ref];
    if (name == entry) {
      if (t.items[k].kind != Kind::Dict)
        fail("has entry '", entry, "' holding ", kind_name(t.items[k].kind), ", not a dict of tensors");
      return flatten(t.items[k], "", 0);
    }
    if (named++ < kNamesShown) names += (names.empty() ? "'" : ", '") + name + "'";
  }
  if (named > kNamesShown) names += ", ...";
  fail("has no entry '", entry, "' (its entries: ", names.empty() ? std::string("none with a string name") : names, ")");
}

void Interpreter::flatten(const Value& dict, const std::string& prefix, size_t depth) {
  if (depth >= kMaxNestedDicts) fail("nests dicts deeper than ", kMaxNestedDicts, " levels");
  // A weights file never reaches one dict twice; refusing it keeps flattening linear in the file
  // size (a dict of two references to a dict of two references to ... would double per level).
  if (!flattened_dicts_.insert(dict.ref).second) fail("refers to the same dict from two places or from itself");
  const Container& c = containers_[dict.ref];
  for (size_t k = 0; k < c.items.size(); ++k) {
    const Value& key = c.keys[k];
    if (key.kind != Kind::String) fail("has a dict key that is ", kind_name(key.kind), ", not a string");
    std::string name = prefix.empty() ? strings_[key.ref] : prefix + "." + strings_[key.ref];
    const Value& v = c.items[k];
    if (v.kind == Kind::Dict) {
      flatten(v, name, depth + 1);
    } else if (v.kind == Kind::Tensor) {
      auto [it, fresh] = entry_by_name_.emplace(name, result_.entries.size());
      if (fresh) result_.entries.emplace_back(name, v.ref);
      else result_.entries[it->second].second = v.ref;  // a repeated key overwrites, as in Python
    } else {
      fail("has entry '", name, "' holding ", kind_name(v.kind), "; only dicts of tensors can be loaded");
    }
  }
}

}  // namespace

const char* storage_type_name(StorageDtype dtype) {
  for (const auto& s : kStorageTypes)
    if (s.dtype == dtype) return s.name;
  return "?";
}

PickleResult interpret(const uint8_t* data, size_t size, RecordProvider& records, const std::string& what,
                       const std::string& entry) {
  return Interpreter(data, size, records, what).run(entry);
}

}  // namespace disco::io::pickle
