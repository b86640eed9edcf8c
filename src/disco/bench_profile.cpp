#include "disco/bench_profile.h"

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/device.h"

namespace disco {
namespace {
namespace tp = torch::profiler::impl;
namespace ap = torch::autograd::profiler;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Kineto names device work "kernel", "gpu_memcpy", "gpu_memset" (older: "Kernel", "Memcpy", "Memset").
bool is_device_activity(const std::string& lower_cat) {
  return lower_cat == "kernel" || lower_cat.find("memcpy") != std::string::npos ||
         lower_cat.find("memset") != std::string::npos;
}
}  // namespace

KernelProfile summarise_trace(const std::string& trace_json) {
  KernelProfile p;
  const auto j = nlohmann::json::parse(trace_json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.contains("traceEvents") || !j["traceEvents"].is_array()) {
    p.error = "the profiler's trace could not be read";
    return p;
  }
  std::map<std::string, KernelTime> device, cpu;
  for (const auto& e : j["traceEvents"]) {
    if (!e.is_object() || !e.contains("cat") || !e.contains("dur") || !e["dur"].is_number()) continue;
    const auto cat = lower(e["cat"].is_string() ? e["cat"].get<std::string>() : "");
    const auto name = e.contains("name") && e["name"].is_string() ? e["name"].get<std::string>() : "?";
    const bool on_device = is_device_activity(cat);
    if (!on_device && cat != "cpu_op") continue;
    auto& k = (on_device ? device : cpu)[name];
    k.name = name;
    ++k.calls;
    k.seconds += e["dur"].get<double>() * 1e-6;  // microseconds
  }
  const auto& use = device.empty() ? cpu : device;
  for (const auto& [name, k] : use) {
    p.kernels.push_back(k);
    if (!device.empty()) p.device_seconds += k.seconds;
  }
  std::sort(p.kernels.begin(), p.kernels.end(), [](const KernelTime& a, const KernelTime& b) { return a.seconds > b.seconds; });
  return p;
}

KernelProfile profile_kernels(const torch::Device& device, const std::function<void()>& f, const std::string& trace_path) {
  std::set<tp::ActivityType> activities{tp::ActivityType::CPU};
  if (device.is_cuda()) activities.insert(tp::ActivityType::CUDA);
  const tp::ProfilerConfig config(tp::ProfilerState::KINETO);
  KernelProfile p;
  const auto unavailable = [&p](const c10::Error& e) { p.error = std::string("no profile: ") + e.what_without_backtrace(); };
  synchronize(device);
  try {
    ap::prepareProfiler(config, activities);
    ap::enableProfiler(config, activities);
  } catch (const c10::Error& e) {
    unavailable(e);
    return p;
  }
  try {  // the work's own errors are the caller's, not a missing profile
    f();
    synchronize(device);
  } catch (...) {
    ap::disableProfiler();
    throw;
  }
  try {
    ap::disableProfiler()->save(trace_path);
  } catch (const c10::Error& e) {  // Debian's libtorch: no Kineto, no trace to save
    unavailable(e);
    return p;
  }
  std::ifstream in(trace_path);
  std::stringstream text;
  text << in.rdbuf();
  return summarise_trace(text.str());
}

}  // namespace disco
