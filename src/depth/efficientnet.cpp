#include "depth/efficientnet.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"

namespace disco::depth {

namespace nn = torch::nn;

namespace {

// geffnet's BatchNorm for the tf_ variants: BN_EPS_TF_DEFAULT (momentum only matters in training).
constexpr double kEffnetBnEps = 1e-3;
constexpr double kEffnetSeRatio = 0.25;

nn::BatchNorm2d effnet_batch_norm(int64_t channels) {
  return nn::BatchNorm2d(nn::BatchNorm2dOptions(channels).eps(kEffnetBnEps));
}

// efficientnet_builder.make_divisible: round to the divisor, never more than 10 % down.
int64_t effnet_make_divisible(double v, int64_t divisor) {
  int64_t new_v = std::max(divisor, static_cast<int64_t>(v + divisor / 2.0) / divisor * divisor);
  if (new_v < 0.9 * v) new_v += divisor;
  return new_v;
}

const at::Tensor& effnet_tensor(const io::TensorMap& sd, const std::string& key, const std::string& source) {
  const at::Tensor* t = sd.find(key);
  DISCO_CHECK(t, ModelMismatchError, "checkpoint '", source, "' has no tensor '", key,
              "'; it does not hold an EfficientNet encoder as AdaBins builds it");
  return *t;
}

EfficientNetBlockConfig effnet_block_from(const io::TensorMap& sd, const std::string& p, int64_t stride,
                                          const std::string& source) {
  EfficientNetBlockConfig b;
  b.inverted_residual = sd.contains(p + "conv_pwl.weight");
  const at::Tensor& dw = effnet_tensor(sd, p + "conv_dw.weight", source);  // [mid, 1, k, k]
  const at::Tensor& pw = effnet_tensor(sd, p + "conv_pw.weight", source);
  DISCO_CHECK(dw.dim() == 4 && pw.dim() == 4, ModelMismatchError, "checkpoint '", source, "': '", p,
              "conv_dw.weight' and 'conv_pw.weight' must be 4-d convolution weights");
  b.mid_chs = dw.size(0);
  b.kernel = dw.size(2);
  b.stride = stride;
  if (b.inverted_residual) {
    b.in_chs = pw.size(1);  // conv_pw [mid, in, 1, 1]
    b.out_chs = effnet_tensor(sd, p + "conv_pwl.weight", source).size(0);
  } else {
    b.in_chs = b.mid_chs;  // conv_pw [out, in, 1, 1]
    b.out_chs = pw.size(0);
  }
  if (const at::Tensor* se = sd.find(p + "se.conv_reduce.weight")) b.se_chs = se->size(0);
  return b;
}

}  // namespace

const std::vector<int64_t>& EfficientNetConfig::stage_strides() {
  static const std::vector<int64_t> strides = {1, 2, 2, 2, 1, 2, 1};
  return strides;
}

EfficientNetConfig EfficientNetConfig::from_state_dict(const io::TensorMap& sd, const std::string& prefix,
                                                       const std::string& source) {
  EfficientNetConfig c;
  const at::Tensor& stem = effnet_tensor(sd, prefix + "conv_stem.weight", source);  // [stem, 3, 3, 3]
  c.in_chans = stem.size(1);
  c.stem_size = stem.size(0);
  c.num_features = effnet_tensor(sd, prefix + "conv_head.weight", source).size(0);
  const auto& strides = stage_strides();
  for (size_t s = 0; s < strides.size(); ++s) {
    std::vector<EfficientNetBlockConfig> stage;
    for (int64_t b = 0;; ++b) {
      const std::string p = prefix + "blocks." + std::to_string(s) + "." + std::to_string(b) + ".";
      if (!sd.contains(p + "conv_dw.weight") && b > 0) break;
      stage.push_back(effnet_block_from(sd, p, b == 0 ? strides[s] : 1, source));
    }
    c.stages.push_back(std::move(stage));
  }
  return c;
}

EfficientNetConfig EfficientNetConfig::tf_efficientnet_b5() {
  struct StageDef {
    bool ir;
    int64_t repeats, kernel, exp_ratio, channels;
  };
  // _gen_efficientnet's arch_def: ds_r1_k3_s1_e1_c16, ir_r2_k3_s2_e6_c24, ir_r2_k5_s2_e6_c40,
  // ir_r3_k3_s2_e6_c80, ir_r3_k5_s1_e6_c112, ir_r4_k5_s2_e6_c192, ir_r1_k3_s1_e6_c320, all se0.25.
  static const StageDef kArch[] = {{false, 1, 3, 1, 16}, {true, 2, 3, 6, 24},  {true, 2, 5, 6, 40},
                                   {true, 3, 3, 6, 80},  {true, 3, 5, 6, 112}, {true, 4, 5, 6, 192},
                                   {true, 1, 3, 6, 320}};
  constexpr double kChannelMultiplier = 1.6, kDepthMultiplier = 2.2;
  EfficientNetConfig c;
  c.stem_size = effnet_make_divisible(32 * kChannelMultiplier, 8);
  c.num_features = effnet_make_divisible(1280 * kChannelMultiplier, 8);
  int64_t in_chs = c.stem_size;
  for (size_t s = 0; s < std::size(kArch); ++s) {
    const StageDef& d = kArch[s];
    std::vector<EfficientNetBlockConfig> stage;
    const auto repeats = static_cast<int64_t>(std::ceil(d.repeats * kDepthMultiplier));  // depth_trunc 'ceil'
    for (int64_t b = 0; b < repeats; ++b) {
      EfficientNetBlockConfig block;
      block.inverted_residual = d.ir;
      block.in_chs = in_chs;
      block.out_chs = effnet_make_divisible(d.channels * kChannelMultiplier, 8);
      block.mid_chs = d.ir ? effnet_make_divisible(static_cast<double>(in_chs * d.exp_ratio), 8) : in_chs;
      block.kernel = d.kernel;
      block.stride = b == 0 ? stage_strides()[s] : 1;
      block.se_chs = effnet_make_divisible(in_chs * kEffnetSeRatio, 1);  // reduced_base_chs = in_chs
      stage.push_back(block);
      in_chs = block.out_chs;
    }
    c.stages.push_back(std::move(stage));
  }
  return c;
}

Conv2dSameImpl::Conv2dSameImpl(int64_t in_chs, int64_t out_chs, int64_t kernel, int64_t stride_, int64_t groups_,
                               bool with_bias)
    : stride(stride_), groups(groups_) {
  weight = register_parameter("weight", torch::empty({out_chs, in_chs / groups, kernel, kernel}));
  if (with_bias) bias = register_parameter("bias", torch::empty({out_chs}));
}

torch::Tensor Conv2dSameImpl::forward(const torch::Tensor& x) {
  static constexpr int64_t kNoPadding[] = {0, 0}, kNoDilation[] = {1, 1};
  const int64_t strides[] = {stride, stride};
  const int64_t k = weight.size(-1);
  if (stride == 1 && k % 2 == 1)  // _is_static_pad: an nn.Conv2d with padding (k - 1) // 2
    return torch::conv2d(x, weight, bias, at::IntArrayRef(strides), at::IntArrayRef({(k - 1) / 2, (k - 1) / 2}),
                         at::IntArrayRef(kNoDilation), groups);
  // conv2d_same: _calc_same_pad(i, k, s, d=1) per axis, the extra pixel after.
  auto same_pad = [&](int64_t i) { return std::max(((i + stride - 1) / stride - 1) * stride + k - i, int64_t{0}); };
  const int64_t pad_h = same_pad(x.size(-2)), pad_w = same_pad(x.size(-1));
  torch::Tensor padded = torch::constant_pad_nd(x, {pad_w / 2, pad_w - pad_w / 2, pad_h / 2, pad_h - pad_h / 2}, 0);
  return torch::conv2d(padded, weight, bias, at::IntArrayRef(strides), at::IntArrayRef(kNoPadding),
                       at::IntArrayRef(kNoDilation), groups);
}

SqueezeExciteImpl::SqueezeExciteImpl(int64_t in_chs, int64_t reduced_chs) {
  conv_reduce = register_module("conv_reduce", nn::Conv2d(nn::Conv2dOptions(in_chs, reduced_chs, 1)));
  conv_expand = register_module("conv_expand", nn::Conv2d(nn::Conv2dOptions(reduced_chs, in_chs, 1)));
}

torch::Tensor SqueezeExciteImpl::forward(const torch::Tensor& x) {
  torch::Tensor x_se = x.mean({2, 3}, /*keepdim=*/true);
  x_se = torch::silu(conv_reduce(x_se));  // act_layer: the block's swish
  x_se = conv_expand(x_se);
  return x * torch::sigmoid(x_se);  // gate_fn: sigmoid
}

DepthwiseSeparableConvImpl::DepthwiseSeparableConvImpl(const EfficientNetBlockConfig& c)
    : has_residual(c.stride == 1 && c.in_chs == c.out_chs) {
  conv_dw = register_module("conv_dw", Conv2dSame(c.in_chs, c.in_chs, c.kernel, c.stride, c.in_chs, false));
  bn1 = register_module("bn1", effnet_batch_norm(c.in_chs));
  if (c.se_chs > 0) se = register_module("se", SqueezeExcite(c.in_chs, c.se_chs));
  conv_pw = register_module("conv_pw", Conv2dSame(c.in_chs, c.out_chs, 1, 1, 1, false));
  bn2 = register_module("bn2", effnet_batch_norm(c.out_chs));
}

torch::Tensor DepthwiseSeparableConvImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::silu(bn1(conv_dw(x)));
  if (se) y = se(y);
  y = bn2(conv_pw(y));  // act2: nn.Identity (pw_act False)
  return has_residual ? y + x : y;
}

InvertedResidualImpl::InvertedResidualImpl(const EfficientNetBlockConfig& c)
    : has_residual(c.stride == 1 && c.in_chs == c.out_chs) {
  conv_pw = register_module("conv_pw", Conv2dSame(c.in_chs, c.mid_chs, 1, 1, 1, false));
  bn1 = register_module("bn1", effnet_batch_norm(c.mid_chs));
  conv_dw = register_module("conv_dw", Conv2dSame(c.mid_chs, c.mid_chs, c.kernel, c.stride, c.mid_chs, false));
  bn2 = register_module("bn2", effnet_batch_norm(c.mid_chs));
  if (c.se_chs > 0) se = register_module("se", SqueezeExcite(c.mid_chs, c.se_chs));
  conv_pwl = register_module("conv_pwl", Conv2dSame(c.mid_chs, c.out_chs, 1, 1, 1, false));
  bn3 = register_module("bn3", effnet_batch_norm(c.out_chs));
}

torch::Tensor InvertedResidualImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::silu(bn1(conv_pw(x)));  // point-wise expansion
  y = torch::silu(bn2(conv_dw(y)));                // depth-wise convolution
  if (se) y = se(y);
  y = bn3(conv_pwl(y));  // point-wise linear projection
  return has_residual ? y + x : y;  // drop_connect is training-only
}

GenEfficientNetImpl::GenEfficientNetImpl(const EfficientNetConfig& c) : config(c) {
  DISCO_CHECK(!c.stages.empty() && !c.stages[0].empty(), ModelMismatchError, "an EfficientNet needs at least one block");
  conv_stem = register_module("conv_stem", Conv2dSame(c.in_chans, c.stem_size, 3, 2, 1, false));
  bn1 = register_module("bn1", effnet_batch_norm(c.stem_size));
  blocks = nn::ModuleList();
  for (const auto& stage : c.stages) {
    nn::Sequential s;
    for (const auto& b : stage) {
      if (b.inverted_residual) s->push_back(InvertedResidual(b));
      else s->push_back(DepthwiseSeparableConv(b));
    }
    blocks->push_back(s);
  }
  register_module("blocks", blocks);
  conv_head = register_module("conv_head", Conv2dSame(c.stages.back().back().out_chs, c.num_features, 1, 1, 1, false));
  bn2 = register_module("bn2", effnet_batch_norm(c.num_features));
}

EncoderImpl::EncoderImpl(const EfficientNetConfig& config) {
  original_model = register_module("original_model", GenEfficientNet(config));
}

std::vector<torch::Tensor> EncoderImpl::forward(const torch::Tensor& x) {
  GenEfficientNetImpl& m = *original_model;
  std::vector<torch::Tensor> features = {x};
  features.push_back(m.conv_stem(features.back()));
  features.push_back(m.bn1(features.back()));
  features.push_back(torch::silu(features.back()));  // act1
  for (const auto& stage : *m.blocks) features.push_back(stage->as<nn::SequentialImpl>()->forward(features.back()));
  features.push_back(m.conv_head(features.back()));
  features.push_back(m.bn2(features.back()));
  features.push_back(torch::silu(features.back()));  // act2
  features.push_back(features.back());               // global_pool: nn.Identity in AdaBins
  features.push_back(features.back());               // classifier: nn.Identity in AdaBins
  return features;
}

}  // namespace disco::depth
