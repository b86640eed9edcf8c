// A second stream of a device, for work that can run beside the current stream's. The sampler's
// UNet forward is a few hundred large kernels; the guidance that follows is thousands of small ones
// the host issues slowly. On one stream the guidance's launches queue behind the UNet's device
// time; on two, the device runs the UNet while the host is still issuing the guidance.
//
// Device-generic (c10's streams and events), so the same code builds against any libtorch. Only
// devices with streams have one: CUDA.
#pragma once
#include <functional>

#include <c10/core/Stream.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <torch/torch.h>

namespace disco {

class SideStream {
 public:
  static bool available(const torch::Device& device) { return device.is_cuda(); }
  // Throws RuntimeError where the device has no streams.
  explicit SideStream(const torch::Device& device);

  // f() with this stream current, queued after everything already queued on the current stream.
  // Its result must not be read before join().
  torch::Tensor run(const std::function<torch::Tensor()>& f) const;
  // The current stream waits for the work run() queued, and `result` (made there) counts as in use
  // by the current stream, so that the allocator does not hand its memory out again too early.
  void join(const torch::Tensor& result) const;
  // join() in an error path: what run() queued may still read its inputs, so the current stream
  // waits for it, but an error of the join's own is dropped; the first error is the one to report.
  void join_after_error(const torch::Tensor& result) const noexcept;

 private:
  c10::impl::VirtualGuardImpl impl_;
  c10::Stream side_;       // one per device for the process (side_stream.cpp)
  torch::Device device_;   // side_'s device, with its index
};

}  // namespace disco
