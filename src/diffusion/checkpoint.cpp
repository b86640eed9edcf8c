#include "diffusion/checkpoint.h"

namespace disco::diffusion {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// A custom Function's context holds only IValues, so the callable travels as its address.
struct Checkpointed : public torch::autograd::Function<Checkpointed> {
  static torch::Tensor forward(AutogradContext* ctx, int64_t fn, const torch::Tensor& a, const torch::Tensor& b) {
    ctx->saved_data["fn"] = fn;
    ctx->saved_data["a_grad"] = a.requires_grad();
    ctx->saved_data["b_grad"] = b.requires_grad();
    ctx->save_for_backward({a, b});
    return (*reinterpret_cast<const CheckpointFn*>(fn))(a, b);  // autograd is off inside forward
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto& fn = *reinterpret_cast<const CheckpointFn*>(ctx->saved_data["fn"].toInt());
    const bool a_grad = ctx->saved_data["a_grad"].toBool(), b_grad = ctx->saved_data["b_grad"].toBool();
    const auto saved = ctx->get_saved_variables();
    torch::AutoGradMode enable_grad(true);
    const auto a = saved[0].detach().requires_grad_(a_grad);
    const auto b = saved[1].detach().requires_grad_(b_grad);
    const auto out = fn(a, b);
    std::vector<torch::Tensor> inputs;
    if (a_grad) inputs.push_back(a);
    if (b_grad) inputs.push_back(b);
    const auto grads = torch::autograd::grad({out}, inputs, {grad_out[0]}, /*retain_graph=*/false,
                                             /*create_graph=*/false, /*allow_unused=*/true);
    return {torch::Tensor(), a_grad ? grads[0] : torch::Tensor(), b_grad ? grads.back() : torch::Tensor()};
  }
};
}  // namespace

torch::Tensor checkpoint(const CheckpointFn& fn, const torch::Tensor& a, const torch::Tensor& b) {
  if (!torch::GradMode::is_enabled() || !(a.requires_grad() || b.requires_grad())) return fn(a, b);
  return Checkpointed::apply(reinterpret_cast<int64_t>(&fn), a, b);
}

}  // namespace disco::diffusion
