#include "diffusion/checkpoint.h"

namespace disco::diffusion {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A custom Function's context holds only IValues, so the callable travels as its address.
struct Checkpointed : public torch::autograd::Function<Checkpointed> {
  static torch::Tensor forward(AutogradContext* ctx, int64_t fn, const torch::Tensor& a, const torch::Tensor& b,
                               const torch::Tensor& c) {
    ctx->saved_data["fn"] = fn;
    ctx->saved_data["a"] = a.requires_grad();
    ctx->saved_data["b"] = b.requires_grad();
    ctx->saved_data["c"] = c.requires_grad();
    ctx->save_for_backward({a, b, c});
    return (*reinterpret_cast<const CheckpointFn*>(fn))(a, b, c);  // autograd is off inside forward
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto& fn = *reinterpret_cast<const CheckpointFn*>(ctx->saved_data["fn"].toInt());
    const bool needs[3] = {ctx->saved_data["a"].toBool(), ctx->saved_data["b"].toBool(), ctx->saved_data["c"].toBool()};
    const auto saved = ctx->get_saved_variables();
    torch::AutoGradMode enable_grad(true);
    std::vector<torch::Tensor> args, inputs;
    for (size_t i = 0; i < 3; ++i) {
      args.push_back(saved[i].detach().requires_grad_(needs[i]));
      if (needs[i]) inputs.push_back(args.back());
    }
    const auto out = fn(args[0], args[1], args[2]);
    const auto grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    variable_list result = {torch::Tensor()};  // for fn
    for (size_t i = 0, g = 0; i < 3; ++i) result.push_back(needs[i] ? grads[g++] : torch::Tensor());
    return result;
  }
};
}  // namespace

torch::Tensor checkpoint(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b,
                         const torch::Tensor& c) {
  if (!torch::GradMode::is_enabled() || !(a.requires_grad() || b.requires_grad() || c.requires_grad()))
    return fn(a, b, c);
  return Checkpointed::apply(reinterpret_cast<int64_t>(&fn), a, b, c);
}

}  // namespace disco::diffusion
