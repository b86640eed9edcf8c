// The process's resident memory, which `disco bench` reports on the CPU (no allocator statistics
// there): a large tensor raises the peak by its size, and a reset brings the peak back down.
#include <gtest/gtest.h>

#include "common/device.h"

namespace disco {
namespace {

constexpr int64_t kMiB = 1 << 20;

TEST(ProcessMemory, PeakFollowsALargeTensorAndResets) {
  const auto start = process_memory();
  if (!start.known()) GTEST_SKIP() << "/proc/self/status is not available here";
  ASSERT_TRUE(reset_process_peak()) << "/proc/self/clear_refs refused the reset";
  const int64_t before = process_memory().current;
  {
    auto t = torch::ones({256 * kMiB / 4});  // 256 MiB of float32, every page written
    const auto during = process_memory();
    EXPECT_GE(during.current - before, 240 * kMiB);
    EXPECT_GE(during.peak, during.current);
  }
  const auto after = process_memory();
  EXPECT_GE(after.peak - before, 240 * kMiB) << "the peak remembers the freed tensor";
  EXPECT_LT(after.current - before, 64 * kMiB) << "a tensor this large is returned to the system when freed";
  ASSERT_TRUE(reset_process_peak());
  EXPECT_LT(process_memory().peak - before, 64 * kMiB) << "the reset forgets it";
}

}  // namespace
}  // namespace disco
