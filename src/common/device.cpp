#include "common/device.h"

#include <fstream>
#include <mutex>
#include <sstream>
#include <string>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/version.h>

#include "torch_features.h"
#if DISCO_HAVE_DEVICE_ALLOCATOR
#include <c10/core/CachingDeviceAllocator.h>
#endif

namespace disco {
namespace {

#if DISCO_HAVE_DEVICE_ALLOCATOR
// The device's caching allocator when it keeps statistics (CUDA's does from libtorch 2.9 on).
c10::DeviceAllocator* stats_allocator(const torch::Device& device) {
  if (device.is_cpu()) return nullptr;
  return dynamic_cast<c10::DeviceAllocator*>(c10::GetAllocator(device.type()));
}
c10::DeviceIndex index_of(const torch::Device& device) { return device.has_index() ? device.index() : 0; }
#endif

}  // namespace

void synchronize(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize(device.has_index() ? device.index() : -1);
}

torch::Tensor upload(const torch::Tensor& host, const torch::TensorOptions& options) {
  const auto dtype = torch::typeMetaToScalarType(options.dtype());
  if (!options.device().is_cuda() || !host.device().is_cpu()) return host.to(options.device(), dtype);
  return host.to(dtype).pin_memory().to(options.device(), dtype, /*non_blocking=*/true);
}

MemoryStats memory_stats(const torch::Device& device) {
  MemoryStats s;
#if DISCO_HAVE_DEVICE_ALLOCATOR
  if (auto* a = stats_allocator(device)) {
    try {
      const auto stats = a->getDeviceStats(index_of(device));
      s.current = stats.allocated_bytes[0].current;  // [0]: all pools together
      s.peak = stats.allocated_bytes[0].peak;
    } catch (const c10::Error&) {
      // No allocation on this device yet, or an allocator without statistics: unknown.
    }
  }
#endif
  return s;
}

void reset_peak_memory(const torch::Device& device) {
#if DISCO_HAVE_DEVICE_ALLOCATOR
  if (auto* a = stats_allocator(device)) {
    try {
      a->resetPeakStats(index_of(device));
    } catch (const c10::Error&) {
    }
  }
#endif
}

MemoryStats process_memory() {
  MemoryStats s;
  std::ifstream status("/proc/self/status");
  std::string line;
  const auto kib = [&](const char* key) -> int64_t {  // "VmRSS:\t  123456 kB"
    return line.rfind(key, 0) == 0 ? std::stoll(line.substr(std::string(key).size())) * 1024 : -1;
  };
  while (std::getline(status, line)) {
    if (const auto v = kib("VmRSS:"); v >= 0) s.current = v;
    if (const auto v = kib("VmHWM:"); v >= 0) s.peak = v;
  }
  if (s.current < 0) s.peak = -1;
  return s;
}

bool reset_process_peak() {
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
  clear.flush();
  return static_cast<bool>(clear);
}

DeviceMemory device_memory(const torch::Device& device) {
  DeviceMemory m;
#if DISCO_HAVE_DEVICE_ALLOCATOR && DISCO_HAVE_DEVICE_MEMORY_INFO
  if (auto* a = stats_allocator(device)) {
    try {
      const auto info = a->getMemoryInfo(index_of(device));
      m.free = static_cast<int64_t>(info.first);
      m.total = static_cast<int64_t>(info.second);
    } catch (const c10::Error&) {
    }
  }
#endif
  return m;
}

at::Generator make_device_generator(const torch::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::make_generator<at::CPUGeneratorImpl>(seed);
  auto shared = at::globalContext().defaultGenerator(device);
  at::Generator own;
  {
    std::lock_guard<std::mutex> lock(shared.mutex());
    own = shared.clone();
  }
  std::lock_guard<std::mutex> lock(own.mutex());
  own.set_current_seed(seed);
  return own;
}

void enable_cudnn_benchmark(const torch::Device& device) {
  if (device.is_cuda()) at::globalContext().setBenchmarkCuDNN(true);
}

std::string libtorch_description() {
  std::ostringstream os;
  os << TORCH_VERSION_MAJOR << "." << TORCH_VERSION_MINOR << "." << TORCH_VERSION_PATCH;
  if (torch::cuda::is_available())
    os << " (CUDA, " << static_cast<int>(torch::cuda::device_count()) << " device"
       << (torch::cuda::device_count() == 1 ? "" : "s")
       << (torch::cuda::cudnn_is_available() ? ", cuDNN" : "") << ")";
  else
    os << " (CPU)";
  return os.str();
}

}  // namespace disco
