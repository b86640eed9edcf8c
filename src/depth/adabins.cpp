#include "depth/adabins.h"

#include <cmath>

#include "common/error.h"
#include "io/state_dict.h"

namespace disco::depth {

namespace nn = torch::nn;
namespace F = torch::nn::functional;

namespace {

const at::Tensor& adabins_tensor(const io::TensorMap& sd, const std::string& key, int64_t dims,
                                 const std::string& source) {
  const at::Tensor* t = sd.find(key);
  DISCO_CHECK(t, ModelMismatchError, "checkpoint '", source, "' has no tensor '", key,
              "'; it is not an AdaBins (UnetAdaptiveBins) checkpoint");
  DISCO_CHECK(t->dim() == dims, ModelMismatchError, "checkpoint '", source, "': tensor '", key, "' has ", t->dim(),
              " dimensions, expected ", dims, "; the file is damaged or for another network");
  return *t;
}

nn::Conv2d adabins_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

}  // namespace

AdaBinsConfig AdaBinsConfig::nyu() {
  AdaBinsConfig c;
  c.encoder = EfficientNetConfig::tf_efficientnet_b5();
  return c;
}

AdaBinsConfig AdaBinsConfig::from_state_dict(const io::TensorMap& sd, const std::string& source) {
  AdaBinsConfig c;
  c.encoder = EfficientNetConfig::from_state_dict(sd, "encoder.original_model.", source);
  c.num_features = adabins_tensor(sd, "decoder.conv2.weight", 4, source).size(0);
  c.decoder_out = adabins_tensor(sd, "decoder.conv3.weight", 4, source).size(0);
  const std::string pt = "adaptive_bins_layer.patch_transformer.";
  const at::Tensor& embed = adabins_tensor(sd, pt + "embedding_convPxP.weight", 4, source);  // [E, C, P, P]
  c.embedding_dim = embed.size(0);
  c.patch_size = embed.size(2);
  c.max_patches = adabins_tensor(sd, pt + "positional_encodings", 2, source).size(0);
  const std::string layers = pt + "transformer_encoder.layers.";
  c.dim_feedforward = adabins_tensor(sd, layers + "0.linear1.weight", 2, source).size(0);
  c.num_layers = 1;
  while (sd.contains(layers + std::to_string(c.num_layers) + ".linear1.weight")) ++c.num_layers;
  c.regressor_hidden = adabins_tensor(sd, "adaptive_bins_layer.regressor.0.weight", 2, source).size(0);
  const at::Tensor& out = adabins_tensor(sd, "conv_out.0.weight", 4, source);  // [n_bins, n_query, 1, 1]
  c.n_bins = out.size(0);
  c.n_query_channels = out.size(1);
  DISCO_CHECK(c.embedding_dim % c.num_heads == 0, ModelMismatchError, "checkpoint '", source,
              "': the patch embedding width ", c.embedding_dim, " is not divisible by AdaBins' ", c.num_heads,
              " attention heads");
  return c;
}

UpSampleBNImpl::UpSampleBNImpl(int64_t skip_input, int64_t output_features) {
  _net = register_module("_net", nn::Sequential(adabins_conv(skip_input, output_features, 3, 1, 1),
                                                nn::BatchNorm2d(output_features), nn::LeakyReLU(),
                                                adabins_conv(output_features, output_features, 3, 1, 1),
                                                nn::BatchNorm2d(output_features), nn::LeakyReLU()));
}

torch::Tensor UpSampleBNImpl::forward(const torch::Tensor& x, const torch::Tensor& concat_with) {
  torch::Tensor up_x = F::interpolate(x, F::InterpolateFuncOptions()
                                             .size(std::vector<int64_t>{concat_with.size(2), concat_with.size(3)})
                                             .mode(torch::kBilinear)
                                             .align_corners(true));
  return _net->forward(torch::cat({up_x, concat_with}, 1));
}

DecoderBNImpl::DecoderBNImpl(int64_t num_features, int64_t num_classes, int64_t bottleneck_features,
                             const std::vector<int64_t>& skip) {
  DISCO_CHECK(skip.size() == 4, ModelMismatchError, "DecoderBN needs the widths of four encoder features");
  const int64_t f = num_features;
  // A 1x1 convolution with padding 1, as in AdaBins: the bottleneck grows by a pixel on each side.
  conv2 = register_module("conv2", adabins_conv(bottleneck_features, f, 1, 1, 1));
  up1 = register_module("up1", UpSampleBN(f + skip[3], f / 2));
  up2 = register_module("up2", UpSampleBN(f / 2 + skip[2], f / 4));
  up3 = register_module("up3", UpSampleBN(f / 4 + skip[1], f / 8));
  up4 = register_module("up4", UpSampleBN(f / 8 + skip[0], f / 16));
  conv3 = register_module("conv3", adabins_conv(f / 16, num_classes, 3, 1, 1));
}

torch::Tensor DecoderBNImpl::forward(const std::vector<torch::Tensor>& features) {
  const torch::Tensor &x_block0 = features.at(4), &x_block1 = features.at(5), &x_block2 = features.at(6),
                      &x_block3 = features.at(8), &x_block4 = features.at(11);
  torch::Tensor x_d0 = conv2(x_block4);
  torch::Tensor x_d1 = up1(x_d0, x_block3);
  torch::Tensor x_d2 = up2(x_d1, x_block2);
  torch::Tensor x_d3 = up3(x_d2, x_block1);
  torch::Tensor x_d4 = up4(x_d3, x_block0);
  return conv3(x_d4);
}

SelfAttentionImpl::SelfAttentionImpl(int64_t embed_dim, int64_t num_heads_) : num_heads(num_heads_) {
  in_proj_weight = register_parameter("in_proj_weight", torch::empty({3 * embed_dim, embed_dim}));
  in_proj_bias = register_parameter("in_proj_bias", torch::empty({3 * embed_dim}));
  out_proj = register_module("out_proj", nn::Linear(embed_dim, embed_dim));
}

torch::Tensor SelfAttentionImpl::forward(const torch::Tensor& x) {
  const int64_t tgt_len = x.size(0), bsz = x.size(1), embed_dim = x.size(2);
  const int64_t head_dim = embed_dim / num_heads;
  // _in_projection_packed: one projection, split into q, k, v.
  std::vector<torch::Tensor> qkv = torch::linear(x, in_proj_weight, in_proj_bias).chunk(3, -1);
  auto heads = [&](const torch::Tensor& t) {  // [S, N, E] -> [N*H, S, hd]
    return t.contiguous().view({tgt_len, bsz * num_heads, head_dim}).transpose(0, 1);
  };
  torch::Tensor q = heads(qkv[0]), k = heads(qkv[1]), v = heads(qkv[2]);
  torch::Tensor q_scaled = q / std::sqrt(static_cast<double>(head_dim));
  torch::Tensor attn = torch::softmax(torch::bmm(q_scaled, k.transpose(-2, -1)), -1);
  torch::Tensor out = torch::bmm(attn, v);                                     // [N*H, S, hd]
  out = out.transpose(0, 1).contiguous().view({tgt_len * bsz, embed_dim});  // [S*N, E]
  return out_proj(out).view({tgt_len, bsz, embed_dim});
}

TransformerEncoderLayerImpl::TransformerEncoderLayerImpl(int64_t d_model, int64_t nhead, int64_t dim_feedforward) {
  self_attn = register_module("self_attn", SelfAttention(d_model, nhead));
  linear1 = register_module("linear1", nn::Linear(d_model, dim_feedforward));
  linear2 = register_module("linear2", nn::Linear(dim_feedforward, d_model));
  norm1 = register_module("norm1", nn::LayerNorm(nn::LayerNormOptions({d_model}).eps(1e-5)));
  norm2 = register_module("norm2", nn::LayerNorm(nn::LayerNormOptions({d_model}).eps(1e-5)));
}

torch::Tensor TransformerEncoderLayerImpl::forward(const torch::Tensor& src) {
  torch::Tensor x = norm1(src + self_attn(src));                   // _sa_block, post-norm
  return norm2(x + linear2(torch::relu(linear1(x))));              // _ff_block
}

PatchTransformerEncoderImpl::PatchTransformerEncoderImpl(const AdaBinsConfig& c) {
  transformer_encoder = register_module("transformer_encoder", std::make_shared<nn::Module>());
  layers = transformer_encoder->register_module("layers", nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i)
    layers->push_back(TransformerEncoderLayer(c.embedding_dim, c.num_heads, c.dim_feedforward));
  embedding_convPxP = register_module(
      "embedding_convPxP", adabins_conv(c.decoder_out, c.embedding_dim, c.patch_size, c.patch_size, 0));
  positional_encodings = register_parameter("positional_encodings", torch::empty({c.max_patches, c.embedding_dim}));
}

torch::Tensor PatchTransformerEncoderImpl::forward(const torch::Tensor& x) {
  torch::Tensor embeddings = embedding_convPxP(x).flatten(2);  // [N, E, S]
  const int64_t s = embeddings.size(2);
  DISCO_CHECK(s <= positional_encodings.size(0), RuntimeError, "AdaBins' input of ", x.size(3), " x ", x.size(2),
              " gives ", s, " patches, more than its ", positional_encodings.size(0),
              " positional encodings; use a smaller image (DD keeps it under 500000 pixels)");
  embeddings = embeddings + positional_encodings.slice(0, 0, s).t().unsqueeze(0);
  embeddings = embeddings.permute({2, 0, 1});  // [S, N, E]
  for (const auto& layer : *layers) embeddings = layer->as<TransformerEncoderLayerImpl>()->forward(embeddings);
  return embeddings;
}

MViTImpl::MViTImpl(const AdaBinsConfig& c) : n_query_channels(c.n_query_channels) {
  patch_transformer = register_module("patch_transformer", PatchTransformerEncoder(c));
  conv3x3 = register_module("conv3x3", adabins_conv(c.decoder_out, c.embedding_dim, 3, 1, 1));
  regressor = register_module("regressor", nn::Sequential(nn::Linear(c.embedding_dim, c.regressor_hidden),
                                                          nn::LeakyReLU(),
                                                          nn::Linear(c.regressor_hidden, c.regressor_hidden),
                                                          nn::LeakyReLU(), nn::Linear(c.regressor_hidden, c.n_bins)));
}

MViTOutput MViTImpl::forward(const torch::Tensor& x_in) {
  torch::Tensor tgt = patch_transformer(x_in);  // [S, N, E]
  torch::Tensor x = conv3x3(x_in);              // [N, E, h, w]
  DISCO_CHECK(tgt.size(0) > n_query_channels, RuntimeError, "AdaBins' input gives ", tgt.size(0),
              " patches, fewer than the ", n_query_channels + 1, " it needs; use a larger image (DD's is at least 448 x 448)");
  torch::Tensor regression_head = tgt[0];                                               // [N, E]
  torch::Tensor queries = tgt.slice(0, 1, n_query_channels + 1).permute({1, 0, 2});  // [N, Q, E]
  // PixelWiseDotProduct: [N, h*w, E] x [N, E, Q] -> [N, Q, h, w]
  const int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor maps = torch::matmul(x.view({n, c, h * w}).permute({0, 2, 1}), queries.permute({0, 2, 1}));
  maps = maps.permute({0, 2, 1}).view({n, queries.size(1), h, w});
  torch::Tensor y = regressor->forward(regression_head);  // [N, n_bins]
  y = torch::relu(y) + 0.1;                               // norm 'linear', eps 0.1
  return {y / y.sum(1, /*keepdim=*/true), maps};
}

UnetAdaptiveBinsImpl::UnetAdaptiveBinsImpl(const AdaBinsConfig& c) : config(c) {
  encoder = register_module("encoder", Encoder(c.encoder));
  adaptive_bins_layer = register_module("adaptive_bins_layer", MViT(c));
  const auto& st = c.encoder.stages;
  DISCO_CHECK(st.size() == 7, ModelMismatchError, "AdaBins' decoder reads EfficientNet's seven stages; got ", st.size());
  const std::vector<int64_t> skips = {st[0].back().out_chs, st[1].back().out_chs, st[2].back().out_chs,
                                      st[4].back().out_chs};  // features[4], [5], [6], [8]
  decoder = register_module("decoder", DecoderBN(c.num_features, c.decoder_out, c.encoder.num_features, skips));
  conv_out = register_module("conv_out", nn::Sequential(adabins_conv(c.n_query_channels, c.n_bins, 1, 1, 0),
                                                        nn::Softmax(nn::SoftmaxOptions(1))));
}

AdaBinsOutput UnetAdaptiveBinsImpl::forward(const torch::Tensor& x) {
  torch::Tensor unet_out = decoder(encoder(x));
  MViTOutput bins = adaptive_bins_layer(unet_out);
  torch::Tensor out = conv_out->forward(bins.range_attention_maps);  // [N, n_bins, h, w]
  torch::Tensor bin_widths = bins.bin_widths_normed * (config.max_val - config.min_val);
  bin_widths = torch::constant_pad_nd(bin_widths, {1, 0}, config.min_val);
  torch::Tensor bin_edges = torch::cumsum(bin_widths, 1);  // [N, n_bins + 1]
  torch::Tensor centers = 0.5 * (bin_edges.slice(1, 0, -1) + bin_edges.slice(1, 1));
  centers = centers.view({centers.size(0), centers.size(1), 1, 1});
  return {bin_edges, torch::sum(out * centers, 1, /*keepdim=*/true)};
}

}  // namespace disco::depth
