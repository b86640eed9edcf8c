// clip.model.{Bottleneck, AttentionPool2d, ModifiedResNet}, models-spec §3.5.
#include "clip/modified_resnet.h"

#include "clip/transformer.h"
#include "common/conv.h"
#include "common/error.h"

namespace disco::clip {
namespace {
namespace nn = torch::nn;

nn::Conv2d conv(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}
}  // namespace

torch::Tensor batch_norm(nn::BatchNorm2dImpl& bn, const torch::Tensor& x) {
  if (x.scalar_type() == bn.weight.scalar_type()) return bn.forward(x);
  return bn.forward(x.to(bn.weight.scalar_type())).to(x.scalar_type());
}

FoldedConvBN FoldedConvBN::fold(const nn::Conv2dImpl& conv, const nn::BatchNorm2dImpl& bn) {
  DISCO_CHECK(!bn.is_training() && bn.running_mean.defined() && bn.running_var.defined(), RuntimeError,
              "a BatchNorm can be folded into its convolution only in eval mode, with running statistics");
  torch::NoGradGuard no_grad;
  const auto dtype = conv.weight.scalar_type();
  const auto scale = bn.weight.to(torch::kFloat) / (bn.running_var.to(torch::kFloat) + bn.options.eps()).sqrt();
  FoldedConvBN f;
  f.weight = (conv.weight.to(torch::kFloat) * scale.view({-1, 1, 1, 1})).to(dtype);
  f.bias = (bn.bias.to(torch::kFloat) - bn.running_mean.to(torch::kFloat) * scale).to(dtype);
  if (conv.bias.defined()) f.bias = f.bias + (conv.bias.to(torch::kFloat) * scale).to(dtype);
  f.stride = (*conv.options.stride())[0];
  f.padding = conv.weight.size(2) / 2;  // conv() pads kernel / 2, square kernels
  return f;
}

torch::Tensor conv_bn(nn::Conv2dImpl& conv, nn::BatchNorm2dImpl& bn, const FoldedConvBN& f, const torch::Tensor& x) {
  if (!f.weight.defined()) {  // conv() pads kernel / 2
    const int64_t stride = (*conv.options.stride())[0], padding = conv.weight.size(2) / 2;
    return batch_norm(bn, conv2d_input_grad(x, conv.weight, conv.bias, stride, padding));
  }
  return conv2d_input_grad(x, f.weight, f.bias, f.stride, f.padding);
}

BottleneckImpl::BottleneckImpl(int64_t inplanes, int64_t planes, int64_t stride) {
  conv1 = register_module("conv1", conv(inplanes, planes, 1));
  bn1 = register_module("bn1", nn::BatchNorm2d(planes));
  conv2 = register_module("conv2", conv(planes, planes, 3));
  bn2 = register_module("bn2", nn::BatchNorm2d(planes));
  if (stride > 1) avgpool = register_module("avgpool", AvgPool(stride));
  conv3 = register_module("conv3", conv(planes, planes * kExpansion, 1));
  bn3 = register_module("bn3", nn::BatchNorm2d(planes * kExpansion));
  if (stride > 1 || inplanes != planes * kExpansion) {
    downsample = register_module("downsample", nn::Sequential({
                                                   {"-1", AvgPool(stride)},
                                                   {"0", conv(inplanes, planes * kExpansion, 1)},
                                                   {"1", nn::BatchNorm2d(planes * kExpansion)},
                                               }));
  }
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  // x [N,inplanes,H,W]
  auto out = torch::relu(conv_bn(*conv1, *bn1, folded1, x));
  out = torch::relu(conv_bn(*conv2, *bn2, folded2, out));
  if (avgpool) out = avgpool(out);  // [N,planes,H/s,W/s]: the stride lives in the pool
  out = conv_bn(*conv3, *bn3, folded3, out);
  auto identity = x;
  if (downsample) {
    // Not downsample->forward(): its BatchNorm must go through batch_norm() for mixed precision.
    identity = downsample->ptr(0)->as<AvgPoolImpl>()->forward(x);
    identity = conv_bn(*downsample->ptr(1)->as<nn::Conv2dImpl>(), *downsample->ptr(2)->as<nn::BatchNorm2dImpl>(),
                       folded_down, identity);
  }
  return torch::relu(out + identity);
}

void BottleneckImpl::fold_batchnorm(bool on) {
  folded1 = on ? FoldedConvBN::fold(*conv1, *bn1) : FoldedConvBN{};
  folded2 = on ? FoldedConvBN::fold(*conv2, *bn2) : FoldedConvBN{};
  folded3 = on ? FoldedConvBN::fold(*conv3, *bn3) : FoldedConvBN{};
  folded_down = on && downsample ? FoldedConvBN::fold(*downsample->ptr(1)->as<nn::Conv2dImpl>(),
                                                      *downsample->ptr(2)->as<nn::BatchNorm2dImpl>())
                                 : FoldedConvBN{};
}

namespace {
void append(std::vector<torch::Tensor>& out, const FoldedConvBN& f) {
  if (!f.weight.defined()) return;
  out.push_back(f.weight);
  out.push_back(f.bias);
}
}  // namespace

void BottleneckImpl::append_folded(std::vector<torch::Tensor>& out) const {
  for (const auto* f : {&folded1, &folded2, &folded3, &folded_down}) append(out, *f);
}

AttentionPool2dImpl::AttentionPool2dImpl(int64_t spacial_dim, int64_t embed_dim, int64_t heads_,
                                         int64_t output_dim)
    : heads(heads_) {
  DISCO_CHECK(heads >= 1 && embed_dim % heads == 0, ModelMismatchError, "attention pool width ",
              embed_dim, " is not divisible into ", heads, " heads");
  positional_embedding = register_parameter(
      "positional_embedding",
      torch::randn({spacial_dim * spacial_dim + 1, embed_dim}) / std::sqrt(static_cast<double>(embed_dim)));
  k_proj = register_module("k_proj", nn::Linear(embed_dim, embed_dim));
  q_proj = register_module("q_proj", nn::Linear(embed_dim, embed_dim));
  v_proj = register_module("v_proj", nn::Linear(embed_dim, embed_dim));
  c_proj = register_module("c_proj", nn::Linear(embed_dim, output_dim));
}

torch::Tensor AttentionPool2dImpl::forward(const torch::Tensor& x_in) {
  auto x = x_in.flatten(2).permute({2, 0, 1});                  // [HW,N,C], token = y*W + x
  x = torch::cat({x.mean(0, /*keepdim=*/true), x}, 0);          // [HW+1,N,C]
  x = x + positional_embedding.unsqueeze(1).to(x.scalar_type());
  // Only the mean token queries; all tokens are keys and values.
  auto o = scaled_dot_product_heads(q_proj(x.slice(0, 0, 1)), k_proj(x), v_proj(x), heads, {}, fused);  // [1,N,C]
  return c_proj(o).squeeze(0);                                   // [N,output_dim]
}

ModifiedResNetImpl::ModifiedResNetImpl(const std::vector<int64_t>& layers, int64_t output_dim,
                                       int64_t heads, int64_t input_resolution, int64_t width) {
  DISCO_CHECK(layers.size() == 4, ModelMismatchError, "a ModifiedResNet needs 4 stage sizes, got ",
              layers.size());
  conv1 = register_module("conv1", conv(3, width / 2, 3, 2));
  bn1 = register_module("bn1", nn::BatchNorm2d(width / 2));
  conv2 = register_module("conv2", conv(width / 2, width / 2, 3));
  bn2 = register_module("bn2", nn::BatchNorm2d(width / 2));
  conv3 = register_module("conv3", conv(width / 2, width, 3));
  bn3 = register_module("bn3", nn::BatchNorm2d(width));
  avgpool = register_module("avgpool", AvgPool(2));
  inplanes_ = width;
  layer1 = register_module("layer1", make_layer(width, layers[0], 1));
  layer2 = register_module("layer2", make_layer(width * 2, layers[1], 2));
  layer3 = register_module("layer3", make_layer(width * 4, layers[2], 2));
  layer4 = register_module("layer4", make_layer(width * 8, layers[3], 2));
  const int64_t embed_dim = width * 32;  // the ResNet feature dimension
  attnpool = register_module("attnpool",
                             AttentionPool2d(input_resolution / 32, embed_dim, heads, output_dim));
}

nn::Sequential ModifiedResNetImpl::make_layer(int64_t planes, int64_t blocks, int64_t stride) {
  nn::Sequential layer;
  layer->push_back(Bottleneck(inplanes_, planes, stride));
  inplanes_ = planes * BottleneckImpl::kExpansion;
  for (int64_t i = 1; i < blocks; ++i) layer->push_back(Bottleneck(inplanes_, planes, 1));
  return layer;
}

void ModifiedResNetImpl::fold_batchnorm(bool on) {
  folded1 = on ? FoldedConvBN::fold(*conv1, *bn1) : FoldedConvBN{};
  folded2 = on ? FoldedConvBN::fold(*conv2, *bn2) : FoldedConvBN{};
  folded3 = on ? FoldedConvBN::fold(*conv3, *bn3) : FoldedConvBN{};
  for (auto* layer : {&layer1, &layer2, &layer3, &layer4})
    for (size_t i = 0; i < (*layer)->size(); ++i) (*layer)->ptr(i)->as<BottleneckImpl>()->fold_batchnorm(on);
}

std::vector<torch::Tensor> ModifiedResNetImpl::folded_tensors() const {
  std::vector<torch::Tensor> out;
  for (const auto* f : {&folded1, &folded2, &folded3}) append(out, *f);
  for (const auto* layer : {&layer1, &layer2, &layer3, &layer4})
    for (size_t i = 0; i < (*layer)->size(); ++i) (*layer)->ptr(i)->as<BottleneckImpl>()->append_folded(out);
  return out;
}

torch::Tensor ModifiedResNetImpl::forward(const torch::Tensor& image) {
  auto x = image.to(conv1->weight.scalar_type());  // [N,3,R,R]
  x = torch::relu(conv_bn(*conv1, *bn1, folded1, x));  // [N,w/2,R/2,R/2]
  x = torch::relu(conv_bn(*conv2, *bn2, folded2, x));
  x = torch::relu(conv_bn(*conv3, *bn3, folded3, x));  // [N,w,R/2,R/2]
  x = avgpool(x);                                  // [N,w,R/4,R/4]
  x = layer1->forward(x);                          // [N,4w,R/4,R/4]
  x = layer2->forward(x);                          // [N,8w,R/8,R/8]
  x = layer3->forward(x);                          // [N,16w,R/16,R/16]
  x = layer4->forward(x);                          // [N,32w,R/32,R/32]
  return attnpool(x);                              // [N,output_dim]
}

}  // namespace disco::clip
