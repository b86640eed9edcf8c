// libFuzzer target for the restricted pickle interpreter (src/io/pickle_reader.cpp), the code that
// reads untrusted data.pkl bytes. Records come from an in-memory provider, so no zip is needed.
// Any exception other than disco::CheckpointError escapes and counts as a crash.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "io/pickle_reader.h"

namespace {

using disco::io::pickle::StorageRef;

// Answers deterministically per key so every branch is reachable: a missing record, a record of
// the wrong size, and (mostly) a record of exactly numel * element size.
class FuzzRecords : public disco::io::pickle::RecordProvider {
 public:
  uint64_t load_record(const StorageRef& s) override {
    uint32_t h = 2166136261u;  // FNV-1a
    for (unsigned char c : s.key) h = (h ^ c) * 16777619u;
    uint64_t want = uint64_t(s.numel) * uint64_t(disco::io::pickle::element_size(s.dtype));
    if (h % 16 == 0) throw disco::CheckpointError("fuzz: record data/" + s.key + " is missing.");
    if (h % 16 == 1) return want + 1;
    return want;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzRecords records;
  try {
    disco::io::pickle::interpret(data, size, records, "fuzz input");
  } catch (const disco::CheckpointError&) {
    // Refusing bad input with a CheckpointError is the expected outcome.
  }
  return 0;
}
