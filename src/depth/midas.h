// MiDaS v3's DPT depth model (midas/dpt_depth.py DPTDepthModel, blocks.py, vit.py) on timm 0.6.13's
// VisionTransformer: DD's midas_depth_model "dpt_large" (dpt_large-midas-2f21e586.pt, backbone
// "vitl16_384", readout "project", non_negative=True), and DD's MiDaS pass for one frame
// (disco_xform_utils.transform_image_3d with init_midas_depth_model's transform). The depth DD
// derives from the prediction is in depth_map.h.
//
// Parameter and buffer names are the checkpoint's keys (pretrained.model.blocks.0.attn.qkv.weight,
// pretrained.act_postprocess1.3.weight, scratch.refinenet4.resConfUnit1.conv1.weight, ...).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <utility>

#include <torch/torch.h>

#include "depth/dpt_blocks.h"
#include "io/image.h"
#include "io/weights_file.h"

namespace disco::depth {

// The architecture's sizes. from_state_dict reads them from the shapes, never the values:
//   embed_dim     pretrained.model.pos_embed [1, 1 + grid*grid, embed_dim]
//   grid          the positional embedding's side (img_size / patch_size; 24 for 384 / 16)
//   depth         the number of pretrained.model.blocks.N
//   mlp_hidden    blocks.0.mlp.fc1.weight [mlp_hidden, embed_dim]
//   num_classes   pretrained.model.head.weight [num_classes, embed_dim]; 0 when there is no head
//   reassemble    pretrained.act_postprocessI.3.weight [features_I, embed_dim, 1, 1]
//   fusion        scratch.layer1_rn.weight [fusion, reassemble[0], 3, 3]
// and by convention, as MiDaS and timm build these models:
//   patch_size    16 (MiDaS' forward_vit divides the input by 16 whatever the weights say; the
//                 file's patch_embed.proj.weight must be [embed_dim, 3, 16, 16])
//   num_heads     embed_dim / 64 (ViT-B 768 / 12, ViT-L 1024 / 16)
//   hooks         the blocks whose outputs are reassembled, evenly spaced: (i + 1) * depth / 4 - 1
//                 (ViT-L's 24 blocks: [5, 11, 17, 23])
struct DPTConfig {
  int64_t embed_dim = 1024;
  int64_t grid = 24;
  int64_t depth = 24;
  int64_t num_heads = 16;
  int64_t mlp_hidden = 4096;
  int64_t num_classes = 1000;
  int64_t patch_size = 16;
  std::array<int64_t, 4> reassemble = {256, 512, 1024, 1024};
  int64_t fusion = 256;
  std::array<int64_t, 4> hooks = {5, 11, 17, 23};

  // DPTDepthModel(backbone="vitl16_384", non_negative=True): DD's "dpt_large".
  static DPTConfig dpt_large();
  // Throws CheckpointError naming `source` when the map is not a MiDaS DPT (vitl16_384-style) state dict.
  static DPTConfig from_state_dict(const io::TensorMap& sd, const std::string& source);
};

// midas.dpt_depth.DPTDepthModel(backbone="vitl16_384"-style, readout "project", non_negative=True).
class DPTDepthModelImpl : public torch::nn::Module {
 public:
  explicit DPTDepthModelImpl(const DPTConfig& config = DPTConfig::dpt_large());
  // x [N, 3, H, W] normalised to [-1, 1], H and W multiples of 32 -> inverse relative depth [N, H, W].
  torch::Tensor forward(const torch::Tensor& x);
  const DPTConfig& config() const { return config_; }

  DPTBackbone pretrained{nullptr};
  DPTScratch scratch{nullptr};

 private:
  DPTConfig config_;
};
TORCH_MODULE(DPTDepthModel);

// MiDaS' BaseModel.load of a state dict file (read with the restricted pickle reader): the plain
// state dict DD's published file is, or a training checkpoint {"model": state dict, "optimizer":
// ...} whose "model" entry is taken (an optimizer state the reader cannot hold as tensors is
// refused: the reader loads dicts of tensors only). Returns the model in float32 on the CPU, in
// eval mode. Throws CheckpointError for a file that is not a MiDaS DPT state dict and
// ModelMismatchError for a missing, unexpected or misshaped key, each saying what to do.
DPTDepthModel load_midas(const std::string& path);

// What init_midas_depth_model does after loading: the model on `device`, in float32 everywhere
// (DD's float16 branch never runs; see the QUIRK in midas.cpp).
void move_midas_to(DPTDepthModel& model, c10::Device device);

// MiDaS' Resize(384, 384, keep_aspect_ratio=True, ensure_multiple_of=32, resize_method="minimal")
// .get_size for an image of (width, height): the network input's {width, height}. Scales the side
// that needs the smaller change to 384, the other by the same factor, each rounded to a multiple of
// 32 (numpy's round: halves to even). Throws SettingsError when a side would round to 0.
std::pair<int64_t, int64_t> midas_net_size(int64_t width, int64_t height);

// cv2.resize(src, (width, height), interpolation=INTER_CUBIC) of a float64 [H, W, C] image, as
// OpenCV 4 computes it: the Keys kernel with a = -0.75, coefficients in float32 at the source
// position (float)((d + 0.5) * (1 / (dst / src)) - 0.5), replicated borders, the horizontal pass
// then the vertical one, each a sum of four float64 products. Returns float64 [height, width, C].
at::Tensor cv2_resize_cubic(const at::Tensor& src, int64_t width, int64_t height);

// DD's MiDaS input for one frame: midas_utils.read_image (RGB / 255, float64), the Resize above
// with cv2's INTER_CUBIC, NormalizeImage(mean 0.5, std 0.5), PrepareForNet: float32 [3, h, w].
at::Tensor midas_input(const io::Image8& image);

// DD's MiDaS prediction for one frame (transform_image_3d): midas_input, the forward pass, then
// interpolate(bicubic, align_corners=False) back to the image's size. Returns the prediction p,
// float32 [H, W] on the CPU (the caller turns it into depth_from_midas(p)). The model runs on
// `device` in its own dtype (float32 as DD runs it: its midas_optimize branch never applies).
at::Tensor midas_prediction(DPTDepthModel& model, const io::Image8& image, c10::Device device);

}  // namespace disco::depth
