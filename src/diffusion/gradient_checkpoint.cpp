#include "diffusion/gradient_checkpoint.h"

namespace disco::diffusion {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kOffloadMinBytes = 1 << 20;

bool worth_offloading(const torch::Tensor& t) {
  return t.numel() * static_cast<int64_t>(t.element_size()) >= kOffloadMinBytes;
}

// A custom Function's context holds only IValues, so the callable travels as its address.
struct Checkpointed : public torch::autograd::Function<Checkpointed> {
  // concat: fn takes cat([a, b], 1) in a's place (and nothing in b's), see checkpoint_concat.
  static torch::Tensor forward(AutogradContext* ctx, int64_t fn, bool offload, bool concat, const torch::Tensor& a,
                               const torch::Tensor& b, const torch::Tensor& c) {
    ctx->saved_data["fn"] = fn;
    ctx->saved_data["concat"] = concat;
    ctx->saved_data["a"] = a.requires_grad();
    ctx->saved_data["b"] = b.requires_grad();
    ctx->saved_data["c"] = c.requires_grad();
    // An offloaded input is kept as a host copy, and an empty tensor on its device in its slot.
    std::vector<torch::Tensor> keep = {a, b, c};
    for (size_t i = 0; i < keep.size(); ++i)
      if (offload && worth_offloading(keep[i])) {
        ctx->saved_data["host" + std::to_string(i)] = copy_to_host(keep[i]);
        keep[i] = keep[i].new_empty({0});
      }
    ctx->save_for_backward(keep);
    const auto& f = *reinterpret_cast<const CheckpointFn*>(fn);  // autograd is off inside forward
    return concat ? f(torch::cat({a, b}, 1), a.new_empty({0}), c) : f(a, b, c);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto& fn = *reinterpret_cast<const CheckpointFn*>(ctx->saved_data["fn"].toInt());
    const bool needs[3] = {ctx->saved_data["a"].toBool(), ctx->saved_data["b"].toBool(), ctx->saved_data["c"].toBool()};
    auto saved = ctx->get_saved_variables();
    for (size_t i = 0; i < saved.size(); ++i) {
      const auto host = ctx->saved_data.find("host" + std::to_string(i));
      if (host == ctx->saved_data.end()) continue;
      saved[i] = host->second.toTensor().to(saved[i].device(), /*non_blocking=*/true);
    }
    if (ctx->saved_data["concat"].toBool()) return backward_concat(fn, needs, std::move(saved), grad_out[0]);
    torch::AutoGradMode enable_grad(true);
    std::vector<torch::Tensor> args, inputs;
    for (size_t i = 0; i < 3; ++i) {
      args.push_back(saved[i].detach().requires_grad_(needs[i]));
      if (needs[i]) inputs.push_back(args.back());
    }
    const auto out = fn(args[0], args[1], args[2]);
    const auto grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    variable_list result = {torch::Tensor(), torch::Tensor(), torch::Tensor()};  // fn, offload, concat
    for (size_t i = 0, g = 0; i < 3; ++i) result.push_back(needs[i] ? grads[g++] : torch::Tensor());
    return result;
  }

  // The recomputation starts from the concatenation. a and b are let go of before it runs, which
  // frees them where nothing else holds them: the device copies of offloaded inputs (1 MiB and up).
  // Kept inputs stay with the context until this returns.
  // a's gradient is a slice of the concatenation's, as cat's own are; its consumer (the block before)
  // runs next. b's is a copy of its own slice: b (a skip) waits for the encoder's backward pass, and a
  // slice would hold the whole concatenation's gradient until then.
  static variable_list backward_concat(const CheckpointFn& fn, const bool (&needs)[3], variable_list saved,
                                       const torch::Tensor& grad_out) {
    const int64_t split = saved[0].size(1);
    torch::Tensor x;
    {
      torch::NoGradGuard no_grad;  // x becomes a leaf of the recomputation
      x = torch::cat({saved[0], saved[1]}, 1);
    }
    saved[0] = saved[1] = torch::Tensor();
    torch::AutoGradMode enable_grad(true);
    x.requires_grad_(needs[0] || needs[1]);
    const auto c = saved[2].detach().requires_grad_(needs[2]);
    std::vector<torch::Tensor> inputs;
    if (x.requires_grad()) inputs.push_back(x);
    if (needs[2]) inputs.push_back(c);
    auto out = fn(x, x.new_empty({0}), c);
    auto grads = torch::autograd::grad({out}, inputs, {grad_out}, /*retain_graph=*/false,
                                       /*create_graph=*/false, /*allow_unused=*/true);
    const auto gx = x.requires_grad() ? grads[0] : torch::Tensor();
    const auto gc = needs[2] ? grads.back() : torch::Tensor();
    out.reset();  // its graph holds x, the recomputation's leaf: x is freed before b's copy is made
    x.reset();
    inputs.clear();
    grads.clear();
    variable_list result = {torch::Tensor(), torch::Tensor(), torch::Tensor()};  // fn, offload, concat
    const bool has = gx.defined();
    result.push_back(needs[0] && has ? gx.narrow(1, 0, split) : torch::Tensor());
    result.push_back(needs[1] && has ? gx.narrow(1, split, gx.size(1) - split).clone() : torch::Tensor());
    result.push_back(gc);
    return result;
  }
};
}  // namespace

torch::Tensor copy_to_host(const torch::Tensor& t) {
  if (!t.is_cuda()) return t.clone();
  auto host = torch::empty(t.sizes(), t.options().device(torch::kCPU).pinned_memory(true));
  host.copy_(t, /*non_blocking=*/true);
  return host;
}

namespace {
bool records_gradient(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c) {
  return torch::GradMode::is_enabled() && (a.requires_grad() || b.requires_grad() || c.requires_grad());
}
}  // namespace

torch::Tensor checkpoint(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b,
                         const torch::Tensor& c, bool offload) {
  if (!records_gradient(a, b, c)) return fn(a, b, c);
  return Checkpointed::apply(reinterpret_cast<int64_t>(&fn), offload, false, a, b, c);
}

torch::Tensor checkpoint_concat(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b,
                                const torch::Tensor& c, bool offload) {
  if (!records_gradient(a, b, c)) return fn(torch::cat({a, b}, 1), a.new_empty({0}), c);
  return Checkpointed::apply(reinterpret_cast<int64_t>(&fn), offload, true, a, b, c);
}

}  // namespace disco::diffusion
