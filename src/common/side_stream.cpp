#include "common/side_stream.h"

#include <c10/core/Event.h>
#include <c10/core/StreamGuard.h>

#include "common/error.h"

namespace disco {
namespace {
torch::Device checked(const torch::Device& device) {
  DISCO_CHECK(SideStream::available(device), RuntimeError, "the device ", device.str(),
              " has no second stream to overlap work on; only CUDA devices do.");
  return device;
}
}  // namespace

// One stream for the object's life: the caching allocator keeps freed memory per stream, so a new
// pool stream each step would cache a UNet forward's worth of memory per stream.
SideStream::SideStream(const torch::Device& device)
    : impl_(checked(device).type()), device_(device), side_(impl_.getStreamFromGlobalPool(device)) {}

torch::Tensor SideStream::run(const std::function<torch::Tensor()>& f) const {
  c10::Event queued(device_.type());
  queued.record(impl_.getStream(device_));
  queued.block(side_);
  try {
    c10::StreamGuard on_side(side_);
    return f();
  } catch (...) {
    join({});  // what f queued before it failed may still read its inputs
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

}  // namespace disco
