// SideStream: only devices with streams have one. Its CUDA behaviour (the sampler's UNet beside the
// guidance) is measured by bench/run_gpu.sh, not here: CI has no GPU.
#include <gtest/gtest.h>

#include "common/error.h"
#include "common/side_stream.h"

TEST(SideStream, OnlyCudaDevicesHaveOne) {
  EXPECT_TRUE(disco::SideStream::available(torch::Device(torch::kCUDA, 0)));
  EXPECT_FALSE(disco::SideStream::available(torch::kCPU));
  try {
    disco::SideStream side(torch::kCPU);
    FAIL() << "expected a RuntimeError";
  } catch (const disco::RuntimeError& e) {
    EXPECT_NE(std::string(e.what()).find("only CUDA devices"), std::string::npos) << e.what();
  }
}
