// MiDaS v3 DPT pieces and timm 0.6.13's ViT, line for line with midas/vit.py, midas/blocks.py and
// timm/models/vision_transformer.py.
#include "depth/dpt_blocks.h"

#include <cmath>
#include <string>

namespace disco::depth {

namespace F = torch::nn::functional;

namespace {

torch::nn::LayerNorm dpt_vit_layer_norm(int64_t dim) {
  // timm's VisionTransformer default: partial(nn.LayerNorm, eps=1e-6).
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-6));
}

torch::nn::Conv2d dpt_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, bool bias = true) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(bias));
}

torch::Tensor dpt_upsample2x(const torch::Tensor& x) {
  return F::interpolate(x, F::InterpolateFuncOptions()
                               .scale_factor(std::vector<double>{2.0, 2.0})
                               .mode(torch::kBilinear)
                               .align_corners(true));
}

}  // namespace

ViTAttentionImpl::ViTAttentionImpl(int64_t dim, int64_t num_heads) : num_heads_(num_heads) {
  qkv = register_module("qkv", torch::nn::Linear(dim, dim * 3));
  proj = register_module("proj", torch::nn::Linear(dim, dim));
}

torch::Tensor ViTAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t B = x.size(0), N = x.size(1), C = x.size(2);
  const double scale = std::pow(static_cast<double>(C / num_heads_), -0.5);
  auto qkv_ = qkv(x).reshape({B, N, 3, num_heads_, C / num_heads_}).permute({2, 0, 3, 1, 4});  // [3, B, h, N, d]
  auto q = qkv_[0], k = qkv_[1], v = qkv_[2];
  auto attn = (q.matmul(k.transpose(-2, -1)) * scale).softmax(-1);  // [B, h, N, N]
  return proj(attn.matmul(v).transpose(1, 2).reshape({B, N, C}));
}

ViTMlpImpl::ViTMlpImpl(int64_t dim, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(dim, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, dim));
}

torch::Tensor ViTMlpImpl::forward(const torch::Tensor& x) { return fc2(torch::gelu(fc1(x))); }

ViTBlockImpl::ViTBlockImpl(int64_t dim, int64_t num_heads, int64_t mlp_hidden) {
  norm1 = register_module("norm1", dpt_vit_layer_norm(dim));
  attn = register_module("attn", ViTAttention(dim, num_heads));
  norm2 = register_module("norm2", dpt_vit_layer_norm(dim));
  mlp = register_module("mlp", ViTMlp(dim, mlp_hidden));
}

torch::Tensor ViTBlockImpl::forward(const torch::Tensor& x) {
  auto h = x + attn(norm1(x));
  return h + mlp(norm2(h));
}

PatchEmbedImpl::PatchEmbedImpl(int64_t patch_size, int64_t dim) {
  proj = register_module("proj", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, dim, patch_size).stride(patch_size)));
}

VisionTransformerImpl::VisionTransformerImpl(int64_t patch_size, int64_t dim, int64_t grid, int64_t depth,
                                             int64_t num_heads, int64_t mlp_hidden, int64_t num_classes)
    : patch_size_(patch_size) {
  cls_token = register_parameter("cls_token", torch::zeros({1, 1, dim}));
  pos_embed = register_parameter("pos_embed", torch::randn({1, grid * grid + 1, dim}) * 0.02);
  patch_embed = register_module("patch_embed", PatchEmbed(patch_size, dim));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < depth; ++i) blocks->push_back(ViTBlock(dim, num_heads, mlp_hidden));
  norm = register_module("norm", dpt_vit_layer_norm(dim));
  if (num_classes > 0) head = register_module("head", torch::nn::Linear(dim, num_classes));
}

// MiDaS' _resize_pos_embed: the patch part of pos_embed as a square grid, bilinear
// (align_corners=False) to gs_h x gs_w, even when that is its own size (then it is unchanged).
torch::Tensor VisionTransformerImpl::resize_pos_embed(int64_t gs_h, int64_t gs_w) const {
  auto posemb_tok = pos_embed.slice(1, 0, 1);  // [1, 1, C]
  auto posemb_grid = pos_embed[0].slice(0, 1);  // [g*g, C]
  const auto gs_old = static_cast<int64_t>(std::sqrt(static_cast<double>(posemb_grid.size(0))));
  posemb_grid = posemb_grid.reshape({1, gs_old, gs_old, -1}).permute({0, 3, 1, 2});  // [1, C, g, g]
  posemb_grid = F::interpolate(posemb_grid, F::InterpolateFuncOptions()
                                                .size(std::vector<int64_t>{gs_h, gs_w})
                                                .mode(torch::kBilinear)
                                                .align_corners(false));
  posemb_grid = posemb_grid.permute({0, 2, 3, 1}).reshape({1, gs_h * gs_w, -1});
  return torch::cat({posemb_tok, posemb_grid}, 1);
}

std::vector<torch::Tensor> VisionTransformerImpl::forward_flex(const torch::Tensor& x,
                                                               const std::array<int64_t, 4>& hooks) {
  const int64_t B = x.size(0);
  auto pos = resize_pos_embed(x.size(2) / patch_size_, x.size(3) / patch_size_);
  auto h = patch_embed->proj(x).flatten(2).transpose(1, 2);  // [N, gh*gw, C]
  h = torch::cat({cls_token.expand({B, -1, -1}), h}, 1) + pos;  // [N, T, C]
  std::vector<torch::Tensor> hooked;
  // The blocks after the last hook and the final norm only feed timm's classifier: skipped.
  for (int64_t i = 0; i <= hooks[3]; ++i) {
    h = blocks->ptr<ViTBlockImpl>(i)->forward(h);
    for (int64_t hook : hooks)
      if (hook == i) hooked.push_back(h);
  }
  return hooked;
}

ProjectReadoutImpl::ProjectReadoutImpl(int64_t dim) {
  project = register_module("project", torch::nn::Sequential(torch::nn::Linear(2 * dim, dim), torch::nn::GELU()));
}

torch::Tensor ProjectReadoutImpl::forward(const torch::Tensor& x) {
  auto patches = x.slice(1, 1);                                 // [N, T - 1, C]
  auto readout = x.select(1, 0).unsqueeze(1).expand_as(patches);  // the class token, per patch
  return project->forward(torch::cat({patches, readout}, -1));
}

ReassembleImpl::ReassembleImpl(int stage, int64_t dim, int64_t features) {
  readout = register_module("0", ProjectReadout(dim));
  conv = register_module("3", dpt_conv(dim, features, 1, 1));
  if (stage == 0 || stage == 1) {
    const int64_t k = stage == 0 ? 4 : 2;
    resample = torch::nn::AnyModule(torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(features, features, k).stride(k)));
  } else if (stage == 3) {
    resample = torch::nn::AnyModule(dpt_conv(features, features, 3, 2));
  }
  if (!resample.is_empty()) register_module("4", resample.ptr());
}

torch::Tensor ReassembleImpl::forward(const torch::Tensor& tokens, int64_t gh, int64_t gw) {
  auto x = readout(tokens).transpose(1, 2);   // [N, C, gh*gw]
  x = conv(x.unflatten(2, {gh, gw}));         // [N, features, gh, gw]
  return resample.is_empty() ? x : resample.forward(x);
}

DPTBackboneImpl::DPTBackboneImpl(int64_t patch_size, int64_t dim, int64_t grid, int64_t depth, int64_t num_heads,
                                 int64_t mlp_hidden, int64_t num_classes, const std::array<int64_t, 4>& features,
                                 const std::array<int64_t, 4>& hooks)
    : hooks_(hooks), patch_size_(patch_size) {
  model = register_module("model", VisionTransformer(patch_size, dim, grid, depth, num_heads, mlp_hidden, num_classes));
  for (int i = 0; i < 4; ++i)
    act_postprocess[i] =
        register_module("act_postprocess" + std::to_string(i + 1), Reassemble(i, dim, features[i]));
}

std::array<torch::Tensor, 4> DPTBackboneImpl::forward(const torch::Tensor& x) {
  // forward_vit unflattens to h // 16 x w // 16: MiDaS' patch_size, set by _make_vit_b16_backbone.
  const int64_t gh = x.size(2) / patch_size_, gw = x.size(3) / patch_size_;
  auto hooked = model->forward_flex(x, hooks_);
  std::array<torch::Tensor, 4> layers;
  for (size_t i = 0; i < 4; ++i) layers[i] = act_postprocess[i]->forward(hooked[i], gh, gw);
  return layers;
}

ResidualConvUnitImpl::ResidualConvUnitImpl(int64_t features) {
  conv1 = register_module("conv1", dpt_conv(features, features, 3, 1));
  conv2 = register_module("conv2", dpt_conv(features, features, 3, 1));
}

torch::Tensor ResidualConvUnitImpl::forward(const torch::Tensor& x) {
  auto out = conv1(torch::relu(x));
  out = conv2(torch::relu(out));
  return out + x;
}

FeatureFusionBlockImpl::FeatureFusionBlockImpl(int64_t features) {
  out_conv = register_module("out_conv", dpt_conv(features, features, 1, 1));
  resConfUnit1 = register_module("resConfUnit1", ResidualConvUnit(features));
  resConfUnit2 = register_module("resConfUnit2", ResidualConvUnit(features));
}

torch::Tensor FeatureFusionBlockImpl::forward(const torch::Tensor& x) {
  return out_conv(dpt_upsample2x(resConfUnit2(x)));
}

torch::Tensor FeatureFusionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& skip) {
  return forward(x + resConfUnit1(skip));
}

DPTScratchImpl::DPTScratchImpl(const std::array<int64_t, 4>& in_features, int64_t features) {
  for (int i = 0; i < 4; ++i)
    layer_rn[i] = register_module("layer" + std::to_string(i + 1) + "_rn",
                                  dpt_conv(in_features[i], features, 3, 1, /*bias=*/false));
  for (int i = 0; i < 4; ++i)
    refinenet[i] = register_module("refinenet" + std::to_string(i + 1), FeatureFusionBlock(features));
  output_conv = register_module(
      "output_conv",
      torch::nn::Sequential(dpt_conv(features, features / 2, 3, 1),
                            torch::nn::Functional([](const torch::Tensor& x) { return dpt_upsample2x(x); }),
                            dpt_conv(features / 2, 32, 3, 1), torch::nn::ReLU(), dpt_conv(32, 1, 1, 1),
                            torch::nn::ReLU(), torch::nn::Identity()));
}

torch::Tensor DPTScratchImpl::forward(const std::array<torch::Tensor, 4>& layers) {
  std::array<torch::Tensor, 4> rn;
  for (size_t i = 0; i < 4; ++i) rn[i] = layer_rn[i](layers[i]);
  auto path_4 = refinenet[3]->forward(rn[3]);
  auto path_3 = refinenet[2]->forward(path_4, rn[2]);
  auto path_2 = refinenet[1]->forward(path_3, rn[1]);
  auto path_1 = refinenet[0]->forward(path_2, rn[0]);
  return output_conv->forward(path_1);
}

}  // namespace disco::depth
