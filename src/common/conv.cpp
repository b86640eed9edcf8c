#include "common/conv.h"

#include "common/error.h"

namespace disco {
namespace {
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

struct InputGradConv : public torch::autograd::Function<InputGradConv> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& weight,
                               const torch::Tensor& bias, int64_t stride, int64_t padding, int64_t dilation,
                               int64_t groups) {
    ctx->save_for_backward({weight});  // not x: that is the point
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["padding"] = padding;
    ctx->saved_data["dilation"] = dilation;
    ctx->saved_data["groups"] = groups;
    ctx->saved_data["height"] = x.size(2);
    ctx->saved_data["width"] = x.size(3);
    // An absent bias travels as an empty tensor (a custom Function's inputs must be defined).
    return torch::conv2d(x, weight, bias.numel() ? bias : torch::Tensor(), stride, padding, dilation, groups);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grad_out) {
    const auto weight = ctx->get_saved_variables()[0];
    const int64_t stride = ctx->saved_data["stride"].toInt(), padding = ctx->saved_data["padding"].toInt();
    const int64_t dilation = ctx->saved_data["dilation"].toInt(), groups = ctx->saved_data["groups"].toInt();
    const auto& g = grad_out[0];  // [N, Cout, Ho, Wo]
    // The transposed convolution gives (Ho - 1) * stride - 2 * padding + dilation * (k - 1) + 1 rows;
    // the input's rows that no output saw (stride > 1) come as output padding.
    const auto extra = [&](int64_t in, int64_t out, int64_t k) {
      return in - ((out - 1) * stride - 2 * padding + dilation * (k - 1) + 1);
    };
    const int64_t ph = extra(ctx->saved_data["height"].toInt(), g.size(2), weight.size(2));
    const int64_t pw = extra(ctx->saved_data["width"].toInt(), g.size(3), weight.size(3));
    // libtorch 1.13's CPU transposed convolution mistakes a bfloat16 weight's shape: float32 it is.
    const auto dtype = g.is_cpu() && g.scalar_type() == torch::kBFloat16 ? torch::kFloat : g.scalar_type();
    const auto grad = torch::conv_transpose2d(g.to(dtype), weight.to(dtype), {}, stride, padding, {ph, pw}, groups,
                                              dilation)
                          .to(g.scalar_type());
    return {grad, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};
}  // namespace

torch::Tensor conv2d_keeping_weight(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                    int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  const bool only_input = torch::GradMode::is_enabled() && x.requires_grad() && !weight.requires_grad() &&
                          !(bias.defined() && bias.requires_grad());
  if (!only_input) return torch::conv2d(x, weight, bias, stride, padding, dilation, groups);
  DISCO_CHECK(x.dim() == 4, RuntimeError, "conv2d_keeping_weight: expected [N, C, H, W], got ", x.sizes());
  return InputGradConv::apply(x, weight, bias.defined() ? bias : weight.new_empty({0}), stride, padding, dilation,
                              groups);
}

torch::Tensor conv2d_input_grad(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias,
                                int64_t stride, int64_t padding, int64_t dilation, int64_t groups) {
  if (!x.is_cuda()) return torch::conv2d(x, weight, bias, stride, padding, dilation, groups);
  return conv2d_keeping_weight(x, weight, bias, stride, padding, dilation, groups);
}

}  // namespace disco
