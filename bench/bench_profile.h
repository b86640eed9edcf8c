// Which device kernels a piece of work spends its time in, from libtorch's own profiler (Kineto,
// reached through torch/torch.h). `disco bench --profile DIR` uses it to say where each part of a
// step goes, kernel by kernel, and keeps the traces (Chrome trace JSON) for a closer look.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace disco {

struct KernelTime {
  std::string name;  // the kernel's name as the trace gives it (templates and all)
  int64_t calls = 0;
  double seconds = 0;  // summed over its calls
};

struct KernelProfile {
  std::vector<KernelTime> kernels;  // longest total first
  double device_seconds = 0;        // all kernels, copies and memsets together
  std::string error;                // why there is no profile (e.g. a libtorch built without Kineto)
};

// Runs `f` once under the profiler (CPU and, on CUDA, device activity), keeps the trace at
// `trace_path`, and sums the device's activities by name. Without a device (CPU runs) the sums
// are of the CPU operators, nested ones included.
KernelProfile profile_kernels(const torch::Device& device, const std::function<void()>& f,
                              const std::string& trace_path);

// How many operators a piece of work calls: what the host pays for, op by op (dispatch, autograd
// bookkeeping, a kernel launch on a GPU), whatever the tensors' sizes. Counted through libtorch's
// RecordFunction callbacks, which every build has (Debian's too), so it can be checked on the CPU.
struct OpCount {
  int64_t calls = 0;     // operator calls, nested ones included (each passes the dispatcher)
  int64_t top = 0;       // of these, the ones the work called itself (not from inside an operator)
  int64_t backward = 0;  // autograd nodes run by backward passes
  std::vector<std::pair<std::string, int64_t>> by_name;  // top-level calls and nodes by name, most first
};

// Runs `f` once, counting; not re-entrant (one count at a time in a process).
OpCount count_ops(const std::function<void()>& f);

// Sums the trace's device activities (or, when it has none, its CPU operators) by name.
KernelProfile summarise_trace(const std::string& trace_json);

}  // namespace disco
