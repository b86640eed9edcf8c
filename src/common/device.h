// What the run and the benchmark need from the compute device beyond tensors: waiting for queued
// work, the caching allocator's peak-memory statistics, the card's size, and cuDNN's autotuner.
// Everything here is a no-op (or "unknown") on the CPU and where the libtorch lacks the API.
#pragma once
#include <cstdint>

#include <torch/torch.h>

namespace disco {

// Blocks until the device has finished all queued work (timing needs it; a step does not).
void synchronize(const torch::Device& device);

// A small host tensor (parameters drawn or computed on the CPU) converted to `options`' dtype and
// device. A copy from pageable memory to a CUDA device waits for everything queued before it; this
// one goes through pinned memory and is queued instead, so a step's CPU-side draws cost no sync.
torch::Tensor upload(const torch::Tensor& host, const torch::TensorOptions& options);

// Bytes held by tensors on `device`, now and at peak since the last reset (torch.cuda's
// memory_allocated / max_memory_allocated). -1 when unknown: CPU, or a libtorch older than 2.9.
struct MemoryStats {
  int64_t current = -1;
  int64_t peak = -1;
  bool known() const { return peak >= 0; }
};
MemoryStats memory_stats(const torch::Device& device);
void reset_peak_memory(const torch::Device& device);

// The process's resident memory (Linux /proc): now and at peak since the last reset. On the CPU,
// where libtorch keeps no allocator statistics, this is what the benchmark reports: large tensors
// are mapped and unmapped one by one, so the peak's rise over a baseline is the work's own peak.
// -1 where /proc is not available.
MemoryStats process_memory();
// Resets the peak (writes 5 to /proc/self/clear_refs); false where the kernel refuses.
bool reset_process_peak();

// Free and total bytes of the card (cudaMemGetInfo); -1 when unknown.
struct DeviceMemory {
  int64_t free = -1;
  int64_t total = -1;
};
DeviceMemory device_memory(const torch::Device& device);

// A generator of the caller's own for `device`, seeded as torch.manual_seed(seed) seeds the
// device's default generator: the same numbers, while the default generator (process-wide) is
// neither read after this call nor advanced, so runs on other threads keep their own streams.
// On the CPU a fresh CPUGeneratorImpl. Elsewhere (CUDA) a clone of the default generator, re-seeded:
// libtorch's public API has no device-generic constructor (at::cuda::detail::createCUDAGenerator
// needs the CUDA build's headers and library), and Generator::clone makes a new generator of the
// device's own implementation, whose set_current_seed resets the Philox offset as manual_seed does.
at::Generator make_device_generator(const torch::Device& device, uint64_t seed);

// cuDNN benchmark mode: every convolution shape in a run repeats each step, so the autotuner's
// one-time cost pays back. No effect on the CPU. A libtorch switch for the whole process, only
// ever turned on: the algorithms it picks change speed, not which numbers a run computes.
void enable_cudnn_benchmark(const torch::Device& device);

// "2.11.0 (CUDA, cuDNN 91000)" style description of the libtorch in use, for reports.
std::string libtorch_description();

}  // namespace disco
