// AdaBins (shariqfarooq123/AdaBins): models.unet_adaptive_bins.UnetAdaptiveBins with its
// models.miniViT.mViT and models.layers, as infer.InferenceHelper('nyu') builds it
// (UnetAdaptiveBins.build(n_bins=256, min_val=1e-3, max_val=10), norm 'linear', encoder
// tf_efficientnet_b5_ap), and DD's per-frame AdaBins pass (disco_xform_utils.transform_image_3d
// with InferenceHelper.predict_pil), dd-spec §11.4. Keys as in AdaBins_nyu.pt's 'model' entry.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "depth/efficientnet.h"
#include "io/image.h"
#include "io/weights_file.h"

namespace disco::depth {

struct AdaBinsConfig {
  EfficientNetConfig encoder;
  int64_t num_features = 2048;     // DecoderBN num_features: decoder.conv2's output width
  int64_t decoder_out = 128;       // DecoderBN num_classes = mViT in_channels
  int64_t embedding_dim = 128;     // mViT embedding_dim
  int64_t num_heads = 4;           // mViT num_heads (not in the weights)
  int64_t dim_feedforward = 1024;  // nn.TransformerEncoderLayer dim_feedforward
  int64_t num_layers = 4;          // nn.TransformerEncoder num_layers
  int64_t patch_size = 16;
  int64_t max_patches = 500;       // rows of positional_encodings
  int64_t regressor_hidden = 256;
  int64_t n_query_channels = 128;
  int64_t n_bins = 256;
  double min_val = 1e-3, max_val = 10.0;  // InferenceHelper('nyu'): min_depth, max_depth

  // The published NYU model: tf_efficientnet_b5_ap and UnetAdaptiveBins.build(n_bins=256).
  static AdaBinsConfig nyu();
  // Every width from the tensors' shapes (num_heads, min_val and max_val stay NYU's); throws
  // ModelMismatchError naming the first missing key and `source`.
  static AdaBinsConfig from_state_dict(const io::TensorMap& sd, const std::string& source);
};

// models.unet_adaptive_bins.UpSampleBN: _net(cat[bilinear_align_corners(x -> skip size), skip]).
class UpSampleBNImpl : public torch::nn::Module {
 public:
  UpSampleBNImpl(int64_t skip_input, int64_t output_features);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& concat_with);

  // Conv3x3, BatchNorm2d, LeakyReLU, Conv3x3, BatchNorm2d, LeakyReLU: keys _net.0/1/3/4.
  torch::nn::Sequential _net{nullptr};
};
TORCH_MODULE(UpSampleBN);

// models.unet_adaptive_bins.DecoderBN. Python spells the skip widths as literals (112 + 64 = 176,
// 40 + 24 = 64, 24 + 16 = 40, 16 + 8 = 24: B5's widths at features 8, 6, 5, 4); here they are the
// encoder's widths at those features, which is the same for B5.
class DecoderBNImpl : public torch::nn::Module {
 public:
  // skip_widths: the channels of features[4], [5], [6], [8].
  DecoderBNImpl(int64_t num_features, int64_t num_classes, int64_t bottleneck_features,
                const std::vector<int64_t>& skip_widths);
  torch::Tensor forward(const std::vector<torch::Tensor>& features);  // -> [N, num_classes, H/2, W/2]

  torch::nn::Conv2d conv2{nullptr}, conv3{nullptr};
  UpSampleBN up1{nullptr}, up2{nullptr}, up3{nullptr}, up4{nullptr};
};
TORCH_MODULE(DecoderBN);

// nn.MultiheadAttention(E, nhead) as nn.TransformerEncoderLayer calls it for self-attention
// (F.multi_head_attention_forward: packed in-projection, q / sqrt(head_dim), no mask, no dropout).
class SelfAttentionImpl : public torch::nn::Module {
 public:
  SelfAttentionImpl(int64_t embed_dim, int64_t num_heads);
  torch::Tensor forward(const torch::Tensor& x);  // [S, N, E] -> [S, N, E]

  torch::Tensor in_proj_weight, in_proj_bias;  // [3E, E], [3E]
  torch::nn::Linear out_proj{nullptr};
  int64_t num_heads;
};
TORCH_MODULE(SelfAttention);

// nn.TransformerEncoderLayer(E, nhead, dim_feedforward) in eval mode: post-norm, ReLU, dropout off.
class TransformerEncoderLayerImpl : public torch::nn::Module {
 public:
  TransformerEncoderLayerImpl(int64_t d_model, int64_t nhead, int64_t dim_feedforward);
  torch::Tensor forward(const torch::Tensor& src);  // [S, N, E]

  SelfAttention self_attn{nullptr};
  torch::nn::Linear linear1{nullptr}, linear2{nullptr};
  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr};
};
TORCH_MODULE(TransformerEncoderLayer);

// models.layers.PatchTransformerEncoder: PxP patch embedding + learned positions, then
// nn.TransformerEncoder (keys transformer_encoder.layers.<i>.*).
class PatchTransformerEncoderImpl : public torch::nn::Module {
 public:
  explicit PatchTransformerEncoderImpl(const AdaBinsConfig& c);
  torch::Tensor forward(const torch::Tensor& x);  // [N, C, H, W] -> [S, N, E], S = (H/P)(W/P)

  std::shared_ptr<torch::nn::Module> transformer_encoder;  // nn.TransformerEncoder: holds `layers`
  torch::nn::ModuleList layers{nullptr};
  torch::nn::Conv2d embedding_convPxP{nullptr};
  torch::Tensor positional_encodings;  // [max_patches, E]
};
TORCH_MODULE(PatchTransformerEncoder);

struct MViTOutput {
  torch::Tensor bin_widths_normed;     // [N, n_bins], rows sum to 1
  torch::Tensor range_attention_maps;  // [N, n_query_channels, H, W]
};

// models.miniViT.mViT with norm 'linear'.
class MViTImpl : public torch::nn::Module {
 public:
  explicit MViTImpl(const AdaBinsConfig& c);
  MViTOutput forward(const torch::Tensor& x);  // x [N, decoder_out, H, W]

  PatchTransformerEncoder patch_transformer{nullptr};
  torch::nn::Conv2d conv3x3{nullptr};
  torch::nn::Sequential regressor{nullptr};  // Linear, LeakyReLU, Linear, LeakyReLU, Linear
  int64_t n_query_channels;
};
TORCH_MODULE(MViT);

struct AdaBinsOutput {
  torch::Tensor bin_edges;  // [N, n_bins + 1]
  torch::Tensor pred;       // [N, 1, ceil(H/2), ceil(W/2)] metric depth
};

class UnetAdaptiveBinsImpl : public torch::nn::Module {
 public:
  explicit UnetAdaptiveBinsImpl(const AdaBinsConfig& config);
  AdaBinsOutput forward(const torch::Tensor& x);  // x [N, 3, H, W], ImageNet-normalised

  AdaBinsConfig config;
  Encoder encoder{nullptr};
  MViT adaptive_bins_layer{nullptr};
  DecoderBN decoder{nullptr};
  torch::nn::Sequential conv_out{nullptr};  // Conv2d(n_query_channels, n_bins, 1), Softmax(dim=1)
};
TORCH_MODULE(UnetAdaptiveBins);

// AdaBins' checkpoint (model_io.load_checkpoint): the 'model' entry of {'model', 'optimizer',
// 'epoch'}, without DistributedDataParallel's 'module.' prefix and with load_checkpoint's renames
// of older key names; config from the shapes, strict copy, eval mode, on the CPU, no gradients.
// Throws CheckpointError when the file is not an AdaBins checkpoint, ModelMismatchError when a
// key is missing or misshaped.
UnetAdaptiveBins load_adabins(const std::string& path);

// DD's AdaBins input size for a w x h frame: the area brought into [448 * 448, 500000] pixels,
// int(w * scale) x int(h * scale) (LANCZOS when shrinking, BICUBIC when growing). {width, height}.
std::pair<int, int> adabins_input_size(int width, int height);

// Every step of the pass, for tests and inspection (tensors on the model's device).
struct AdaBinsTrace {
  io::Image8 input_image;  // the resized frame
  torch::Tensor input;     // [1, 3, h, w] float32, /255 and ImageNet-normalised (in float64)
  torch::Tensor pred;      // [1, 1, h', w'] model output, clipped to [min_val, max_val]
  torch::Tensor pred_lr;   // the same for the mirrored input, mirrored back
  torch::Tensor final;     // [1, 1, h, w] averaged, bilinear (align_corners) to the input size
  torch::Tensor depth;     // [H, W] at the frame's size
};
AdaBinsTrace adabins_depth_trace(UnetAdaptiveBins& model, const io::Image8& image, c10::Device device);

// DD's AdaBins depth of one frame, [H, W] float32 metric depth on `device` (the model must be
// there): InferenceHelper.predict_pil on the resized frame, then torchvision's resize back to
// H x W, bicubic without antialiasing (the tensor default of the torchvision DD ran). QUIRK: the
// resize back is skipped only when the area is exactly 500000, where it is the identity anyway.
at::Tensor adabins_depth(UnetAdaptiveBins& model, const io::Image8& image, c10::Device device);

}  // namespace disco::depth
