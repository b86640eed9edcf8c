// The kernel summary of `disco bench --profile`: sums by name from a Kineto trace, and a clear
// message (not a crash) where the libtorch has no Kineto (Debian's 1.13 CPU build). The operator
// counter of the bench's report.
#include "bench/bench_profile.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "common/error.h"

namespace disco {
namespace {

TEST(BenchProfile, SumsDeviceActivitiesByNameLongestFirst) {
  const std::string trace = R"({"traceEvents": [
    {"ph": "X", "cat": "cpu_op", "name": "aten::conv2d", "ts": 0, "dur": 900},
    {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 1, "dur": 100},
    {"ph": "X", "cat": "kernel", "name": "norm", "ts": 2, "dur": 150},
    {"ph": "X", "cat": "kernel", "name": "gemm", "ts": 3, "dur": 120.5},
    {"ph": "X", "cat": "gpu_memcpy", "name": "Memcpy HtoD", "ts": 4, "dur": 10},
    {"ph": "X", "cat": "Memset", "name": "Memset", "ts": 5, "dur": 5},
    {"ph": "i", "cat": "kernel", "name": "no duration"},
    {"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "ts": 1, "dur": 7}
  ]})";
  const auto p = summarise_trace(trace);
  ASSERT_TRUE(p.error.empty()) << p.error;
  ASSERT_EQ(p.kernels.size(), 4u);
  EXPECT_EQ(p.kernels[0].name, "gemm");
  EXPECT_EQ(p.kernels[0].calls, 2);
  EXPECT_NEAR(p.kernels[0].seconds, 220.5e-6, 1e-12);
  EXPECT_EQ(p.kernels[1].name, "norm");
  EXPECT_EQ(p.kernels[3].name, "Memset");
  EXPECT_NEAR(p.device_seconds, 385.5e-6, 1e-12);
}

TEST(BenchProfile, CpuOperatorsWhenTheTraceHasNoDeviceWork) {
  const auto p = summarise_trace(R"({"traceEvents": [
    {"ph": "X", "cat": "cpu_op", "name": "aten::mm", "ts": 0, "dur": 50},
    {"ph": "X", "cat": "cpu_op", "name": "aten::relu", "ts": 60, "dur": 5}]})");
  ASSERT_EQ(p.kernels.size(), 2u);
  EXPECT_EQ(p.kernels[0].name, "aten::mm");
  EXPECT_EQ(p.device_seconds, 0);
}

TEST(BenchProfile, UnreadableTraceIsAnErrorNotAThrow) {
  EXPECT_FALSE(summarise_trace("{not json").error.empty());
  EXPECT_FALSE(summarise_trace("[1, 2]").error.empty());
}

TEST(BenchProfile, RunsTheWorkOnceAndReportsOrExplains) {
  const auto path = (std::filesystem::temp_directory_path() / "disco_bench_profile_test.json").string();
  int calls = 0;
  const auto p = profile_kernels(torch::Device(torch::kCPU), [&] {
    ++calls;
    const auto a = torch::randn({64, 64});
    (void)torch::mm(a, a);
  }, path);
  EXPECT_EQ(calls, 1);
  if (p.error.empty()) {  // a libtorch with Kineto: the CPU operators are summed
    EXPECT_FALSE(p.kernels.empty());
  } else {  // Debian's: says so
    EXPECT_NE(p.error.find("no profile"), std::string::npos) << p.error;
  }
  std::filesystem::remove(path);
}

// An error of the profiled work is the caller's, not reported as a missing profile.
TEST(BenchProfile, TheWorksOwnErrorsPropagate) {
  const auto path = (std::filesystem::temp_directory_path() / "disco_bench_profile_throw.json").string();
  EXPECT_THROW(profile_kernels(torch::Device(torch::kCPU), [] { throw std::runtime_error("out of memory"); }, path),
               std::runtime_error);
  std::filesystem::remove(path);
}

// The operator counter: the work's own calls are top-level, the ones inside them nested; a backward
// pass's nodes are counted once each (the engine also records them as evaluate_function); names are
// counted; the counter is released after an error; and it refuses to nest.
TEST(BenchProfile, CountsTopLevelCallsNestedCallsAndAutogradNodes) {
  const auto x = torch::rand({4, 3});
  const auto plain = count_ops([&] {
    torch::NoGradGuard no_grad;
    x.add(1);
    x.mul(2);
    torch::linear(x, torch::ones({5, 3}));  // calls matmul / t / addmm inside
  });
  EXPECT_EQ(plain.top, 4);  // add, mul, ones, linear
  EXPECT_GT(plain.calls, plain.top);
  EXPECT_EQ(plain.backward, 0);
  const auto named = [](const OpCount& c, const std::string& name) {
    for (const auto& [n, k] : c.by_name)
      if (n == name) return k;
    return int64_t{0};
  };
  EXPECT_EQ(named(plain, "aten::add"), 1);
  EXPECT_EQ(named(plain, "aten::linear"), 1);

  const auto xg = x.clone().requires_grad_(true);
  const auto y = (xg * 3).exp().sum();
  const auto grad = count_ops([&] { torch::autograd::grad({y}, {xg}); });
  EXPECT_EQ(grad.backward, 3);  // SumBackward0, ExpBackward0, MulBackward0
  EXPECT_EQ(named(grad, "ExpBackward0"), 1);
  for (const auto& [n, k] : grad.by_name) EXPECT_EQ(n.find("evaluate_function"), std::string::npos) << n;

  EXPECT_THROW(count_ops([] { throw std::runtime_error("boom"); }), std::runtime_error);
  EXPECT_THROW(count_ops([] { count_ops([] {}); }), RuntimeError);
  EXPECT_EQ(count_ops([&] { x.add(1); }).top, 1);  // released after each error
}

}  // namespace
}  // namespace disco
