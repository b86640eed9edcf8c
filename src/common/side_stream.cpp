#include "common/side_stream.h"

#include <map>
#include <mutex>
#include <utility>

#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>

#include "common/error.h"

namespace disco {
namespace {

c10::impl::VirtualGuardImpl guard_for(const torch::Device& device) {
  DISCO_CHECK(SideStream::available(device), RuntimeError, "the device ", device.str(),
              " has no second stream to overlap work on; only CUDA devices do.");
  return c10::impl::VirtualGuardImpl(device.type());
}

// One pool stream per device for the whole process. The caching allocator keeps freed memory per
// stream, so a new stream for each run (or bench case) would keep memory cached that no later
// stream can reuse, and a memory plan would see it as neither free nor in use. Each entry is made
// once under the lock and never changed; runs on several threads share the stream, which may order
// their side work one after the other but cannot change what either computes.
c10::Stream process_side_stream(const c10::impl::VirtualGuardImpl& impl, const torch::Device& device) {
  static std::mutex mutex;
  static std::map<std::pair<int, int>, c10::Stream> streams;
  const torch::Device resolved(device.type(), device.has_index() ? device.index() : impl.getDevice().index());
  const std::pair<int, int> key(static_cast<int>(resolved.type()), static_cast<int>(resolved.index()));
  std::lock_guard<std::mutex> lock(mutex);
  auto it = streams.find(key);
  if (it == streams.end()) it = streams.emplace(key, impl.getStreamFromGlobalPool(resolved)).first;
  return it->second;
}

}  // namespace

SideStream::SideStream(const torch::Device& device)
    : impl_(guard_for(device)), side_(process_side_stream(impl_, device)), device_(side_.device()) {}

torch::Tensor SideStream::run(const std::function<torch::Tensor()>& f) const {
  c10::Event queued(device_.type());
  queued.record(impl_.getStream(device_));
  queued.block(side_);
  try {
    c10::StreamGuard on_side(side_);
    return f();
  } catch (...) {
    join_after_error({});
    throw;
  }
}

void SideStream::join(const torch::Tensor& result) const {
  const c10::Stream current = impl_.getStream(device_);
  c10::Event done(device_.type());
  done.record(side_);
  done.block(current);
  if (result.defined() && result.has_storage()) impl_.recordDataPtrOnStream(result.storage().data_ptr(), current);
}

void SideStream::join_after_error(const torch::Tensor& result) const noexcept {
  try {
    join(result);
  } catch (...) {
  }
}

}  // namespace disco
