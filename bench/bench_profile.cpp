#include "bench/bench_profile.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/device.h"
#include "common/error.h"

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
// count_ops' state, for the process: RecordFunction callbacks are plain function pointers, a
// global callback sees every thread's operators (backward passes run on autograd's device
// threads, which a thread-local callback would miss), so one count at a time is all there can be.
struct OpCounter {
  std::mutex mutex;
  OpCount count;
  std::map<std::string, int64_t> by_name;
};
std::atomic<OpCounter*> g_counter{nullptr};
thread_local int g_depth = 0;  // operators (and autograd nodes) open on this thread

std::unique_ptr<at::ObserverContext> on_op_start(const at::RecordFunction& fn) {
  const int depth = g_depth++;
  const bool node = fn.scope() == at::RecordScope::BACKWARD_FUNCTION;
  // The engine records each node twice: also as "autograd::engine::evaluate_function: X" around X.
  if (std::strncmp(fn.name(), "autograd::engine::", 18) == 0) return nullptr;
  OpCounter* counter = g_counter.load();
  if (!counter) return nullptr;
  {
    std::lock_guard<std::mutex> lock(counter->mutex);
    auto& c = counter->count;
    if (node) ++c.backward;
    else ++c.calls;
    if (node || depth == 0) {
      if (!node) ++c.top;
      ++counter->by_name[fn.name()];
    }
  }
  return nullptr;
}

void on_op_end(const at::RecordFunction&, at::ObserverContext*) { --g_depth; }
}  // namespace

OpCount count_ops(const std::function<void()>& f) {
  OpCounter counter;
  OpCounter* none = nullptr;
  DISCO_CHECK(g_counter.compare_exchange_strong(none, &counter), RuntimeError, "count_ops: another count is running.");
  const auto handle = at::addGlobalCallback(
      at::RecordFunctionCallback(on_op_start, on_op_end)
          .scopes({at::RecordScope::FUNCTION, at::RecordScope::BACKWARD_FUNCTION}));
  const auto finish = [&] {
    at::removeCallback(handle);
    g_counter.store(nullptr);
  };
  try {
    f();
  } catch (...) {
    finish();
    throw;
  }
  finish();
  auto c = counter.count;
  c.by_name.assign(counter.by_name.begin(), counter.by_name.end());
  std::stable_sort(c.by_name.begin(), c.by_name.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return c;
}

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
