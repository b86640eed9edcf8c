// Whether this platform's libtorch runs bfloat16 on the CPU. The reduced-precision tests skip
// only where it does not (and say so); any other error in them is a failure.
#pragma once
#include <string>

#include <torch/torch.h>

namespace disco::test {

// libtorch's way of saying an op has no bfloat16 kernel: "\"addmm_impl_cpu_\" not implemented for
// 'BFloat16'" (older releases: "... is not implemented for BFloat16", "Unsupported ... BFloat16").
inline bool is_missing_bf16_kernel(const std::string& message) {
  const bool bf16 = message.find("BFloat16") != std::string::npos;
  return bf16 && (message.find("not implemented") != std::string::npos ||
                  message.find("Unsupported") != std::string::npos || message.find("unsupported") != std::string::npos);
}

// "" when a bfloat16 matmul and conv2d run on the CPU (the ops every model here is made of), else
// libtorch's message saying they do not. Another error from the probe is no platform limit and
// propagates (failing the test).
inline std::string cpu_bf16_missing() {
  try {
    torch::NoGradGuard no_grad;
    const auto a = torch::ones({4, 4}, torch::kBFloat16);
    (void)torch::matmul(a, a);
    const auto x = torch::ones({1, 2, 5, 5}, torch::kBFloat16), w = torch::ones({3, 2, 3, 3}, torch::kBFloat16);
    (void)torch::conv2d(x, w);
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    if (is_missing_bf16_kernel(message)) return message;
    throw;
  }
  return "";
}

}  // namespace disco::test
