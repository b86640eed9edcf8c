// DD's SecondaryDiffusionImageNet2, models-spec §7, dd-spec §7.
#include "diffusion/secondary_model.h"

#include <cmath>

#include "common/avg_pool.h"
#include "common/conv.h"
#include "common/error.h"
#include "diffusion/gradient_checkpoint.h"

namespace disco::diffusion {
using torch::Tensor;
namespace nn = torch::nn;

namespace {
ConvBlock conv_block(int64_t cin, int64_t cout) { return ConvBlock(cin, cout); }
AvgPool down() { return AvgPool(2); }
nn::Upsample up() {
  return nn::Upsample(nn::UpsampleOptions()
                          .scale_factor(std::vector<double>{2.0, 2.0})
                          .mode(torch::kBilinear)
                          .align_corners(false));
}

// (alpha, sigma) of the cosine schedule at t.
std::pair<Tensor, Tensor> t_to_alpha_sigma(const Tensor& t) {
  return {torch::cos(t * M_PI / 2), torch::sin(t * M_PI / 2)};
}
}  // namespace

ConvBlockImpl::ConvBlockImpl(int64_t c_in, int64_t c_out) {
  push_back(nn::Conv2d(nn::Conv2dOptions(c_in, c_out, 3).padding(1)));
  push_back(nn::ReLU());
}

Tensor ConvBlockImpl::forward(const Tensor& x) {
  const auto& conv = *ptr(0)->as<nn::Conv2dImpl>();
  return torch::relu(conv2d_input_grad(x, conv.weight, conv.bias, 1, 1));
}

Tensor alpha_sigma_to_t(const Tensor& alpha, const Tensor& sigma) {
  return torch::atan2(sigma, alpha) * 2 / M_PI;
}

SkipBlockImpl::SkipBlockImpl(nn::Sequential main) : main_(register_module("main", main)) {}

Tensor SkipBlockImpl::forward(const Tensor& x) { return torch::cat({main_->forward(x), x}, 1); }

FourierFeaturesImpl::FourierFeaturesImpl(int64_t in_features, int64_t out_features, double std) {
  weight = register_parameter("weight", torch::randn({out_features / 2, in_features}) * std);
}

Tensor FourierFeaturesImpl::forward(const Tensor& input) {
  auto f = 2 * M_PI * input;         // Python: 2 * math.pi * input (one float64 scalar)
  f = torch::matmul(f, weight.t());  // [N, out/2]
  return torch::cat({f.cos(), f.sin()}, -1);
}

SecondaryDiffusionImageNet2Impl::SecondaryDiffusionImageNet2Impl() {
  const int64_t c = 64;
  const int64_t cs[] = {c, c * 2, c * 2, c * 4, c * 4, c * 8};
  timestep_embed = register_module("timestep_embed", FourierFeatures(1, 16));
  auto d = SkipBlock(nn::Sequential(down(), conv_block(cs[4], cs[5]), conv_block(cs[5], cs[5]),
                                    conv_block(cs[5], cs[5]), conv_block(cs[5], cs[4]), up()));
  auto cc = SkipBlock(nn::Sequential(down(), conv_block(cs[3], cs[4]), conv_block(cs[4], cs[4]), d,
                                     conv_block(cs[4] * 2, cs[4]), conv_block(cs[4], cs[3]), up()));
  auto b = SkipBlock(nn::Sequential(down(), conv_block(cs[2], cs[3]), conv_block(cs[3], cs[3]), cc,
                                    conv_block(cs[3] * 2, cs[3]), conv_block(cs[3], cs[2]), up()));
  auto a = SkipBlock(nn::Sequential(down(), conv_block(cs[1], cs[2]), conv_block(cs[2], cs[2]), b,
                                    conv_block(cs[2] * 2, cs[2]), conv_block(cs[2], cs[1]), up()));
  top_ = SkipBlock(nn::Sequential(down(), conv_block(cs[0], cs[1]), conv_block(cs[1], cs[1]), a,
                                  conv_block(cs[1] * 2, cs[1]), conv_block(cs[1], cs[0]), up()));
  net = register_module("net", nn::Sequential(conv_block(3 + 16, cs[0]), conv_block(cs[0], cs[0]), top_,
                                              conv_block(cs[0] * 2, cs[0]),
                                              nn::Conv2d(nn::Conv2dOptions(cs[0], 3, 3).padding(1))));
}

namespace {
Tensor run_layers(nn::Sequential& seq, Tensor h, size_t begin, size_t end) {  // seq's layers [begin, end)
  for (size_t i = begin; i < end; ++i) h = (seq->begin() + static_cast<std::ptrdiff_t>(i))->forward(h);
  return h;
}
}  // namespace

Tensor SecondaryDiffusionImageNet2Impl::head(const Tensor& input) { return run_layers(net, input, 0, 2); }

Tensor SecondaryDiffusionImageNet2Impl::body(const Tensor& h) { return top_->main()->forward(h); }

Tensor SecondaryDiffusionImageNet2Impl::tail(const Tensor& branch, const Tensor& h) {
  return run_layers(net, torch::cat({branch, h}, 1), 3, net->size());  // as SkipBlock: the branch first
}

Tensor SecondaryDiffusionImageNet2Impl::run_segments(const Tensor& input) {
  if (!torch::GradMode::is_enabled()) return net->forward(input);
  const auto none = input.new_empty({0});
  const auto h = checkpoint(head_fn_, input, none, none);  // [N, 64, H, W]
  const auto b = checkpoint(body_fn_, h, none, none);      // [N, 64, H, W]
  return checkpoint(tail_fn_, b, h, none);                 // [N, 3, H, W]
}

void SecondaryDiffusionImageNet2Impl::set_precision(torch::Dtype dtype) {
  DISCO_CHECK(dtype == torch::kFloat || dtype == torch::kHalf || dtype == torch::kBFloat16, SettingsError,
              "the secondary model runs in float32, float16 or bfloat16 (got ", c10::toString(dtype), ")");
  net->to(dtype);
  net_dtype_ = dtype;
}

SecondaryOutput SecondaryDiffusionImageNet2Impl::forward(const Tensor& x, const Tensor& t) {
  DISCO_CHECK(x.dim() == 4 && x.size(2) % 32 == 0 && x.size(3) % 32 == 0, SettingsError,
              "the secondary model needs an image [N, 3, H, W] with H and W divisible by 32, got ",
              x.sizes());
  auto emb = timestep_embed(t.unsqueeze(1));                                      // [N, 16]
  auto planes = emb.unsqueeze(-1).unsqueeze(-1).repeat({1, 1, x.size(2), x.size(3)});  // [N, 16, H, W]
  const auto input = torch::cat({x, planes}, 1).to(net_dtype_);
  const auto none = input.new_empty({0});
  auto v = (checkpointing_ ? checkpoint(net_fn_, input, none, none) : net->forward(input)).to(x.scalar_type());  // [N, 3, H, W]
  auto [alpha, sigma] = t_to_alpha_sigma(t);
  alpha = alpha.view({-1, 1, 1, 1});
  sigma = sigma.view({-1, 1, 1, 1});
  return {v, x * alpha - v * sigma, x * sigma + v * alpha};
}

}  // namespace disco::diffusion
