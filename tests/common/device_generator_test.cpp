// make_device_generator: a generator of the caller's own, with the numbers torch.manual_seed(seed)
// gives the device's default generator, which it neither seeds nor advances.
#include <gtest/gtest.h>

#include "common/device.h"

namespace {

void expect_own_generator(const torch::Device& device) {
  const auto opts = torch::TensorOptions().device(device);
  torch::manual_seed(5);
  const auto from_default = torch::randn({64}, opts);
  auto own = disco::make_device_generator(device, 5);
  torch::manual_seed(99);
  const auto default_next = torch::randn({64}, opts);
  torch::manual_seed(99);
  EXPECT_TRUE(torch::equal(torch::randn({64}, own, opts), from_default));  // as manual_seed(5) gives
  EXPECT_TRUE(torch::equal(torch::randn({64}, opts), default_next));        // the default was not moved
  auto again = disco::make_device_generator(device, 5);
  EXPECT_TRUE(torch::equal(torch::randn({64}, again, opts), from_default));  // nor was the first one shared
}

TEST(DeviceGenerator, CpuGeneratorIsTheCallersOwn) { expect_own_generator(torch::kCPU); }

TEST(DeviceGenerator, CudaGeneratorIsTheCallersOwn) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  expect_own_generator(torch::Device(torch::kCUDA, 0));
}

}  // namespace
