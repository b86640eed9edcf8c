// MiDaS v3 DPTDepthModel (midas/dpt_depth.py) and DD's MiDaS pass for one frame
// (disco_xform_utils.transform_image_3d, disco.py init_midas_depth_model).
#include "depth/midas.h"

#include <cmath>
#include <string>
#include <vector>

#include "common/error.h"
#include "io/state_dict.h"

namespace disco::depth {

namespace F = torch::nn::functional;

namespace {

const char* const kMidasHint =
    " A MiDaS DPT file is the state dict of DPTDepthModel(backbone=\"vitl16_384\"), as DD's "
    "dpt_large-midas-2f21e586.pt; download it again or pick the right file.";

std::vector<int64_t> midas_shape_of(const io::TensorMap& sd, const std::string& key, const std::string& source,
                                    size_t dims) {
  const at::Tensor* t = sd.find(key);
  DISCO_CHECK(t != nullptr, CheckpointError, "'", source, "' is not a MiDaS DPT depth model: it has no tensor '",
              key, "'.", kMidasHint);
  DISCO_CHECK(static_cast<size_t>(t->dim()) == dims, CheckpointError, "'", source, "': tensor '", key, "' has ",
              t->dim(), " dimensions, expected ", dims, ".", kMidasHint);
  return t->sizes().vec();
}

int64_t midas_count_blocks(const io::TensorMap& sd) {
  int64_t depth = 0;
  while (sd.contains("pretrained.model.blocks." + std::to_string(depth) + ".norm1.weight")) ++depth;
  return depth;
}

}  // namespace

DPTConfig DPTConfig::dpt_large() { return DPTConfig{}; }

DPTConfig DPTConfig::from_state_dict(const io::TensorMap& sd, const std::string& source) {
  DPTConfig c;
  const auto pos = midas_shape_of(sd, "pretrained.model.pos_embed", source, 3);
  c.embed_dim = pos[2];
  c.grid = static_cast<int64_t>(std::lround(std::sqrt(static_cast<double>(pos[1] - 1))));
  DISCO_CHECK(pos[0] == 1 && c.grid * c.grid + 1 == pos[1] && c.embed_dim % 64 == 0, CheckpointError, "'", source,
              "': pretrained.model.pos_embed has shape [", pos[0], ", ", pos[1], ", ", pos[2],
              "], expected [1, 1 + g*g, C] with C a multiple of 64.", kMidasHint);
  c.num_heads = c.embed_dim / 64;
  c.depth = midas_count_blocks(sd);
  DISCO_CHECK(c.depth >= 4 && c.depth % 4 == 0, CheckpointError, "'", source, "' has ", c.depth,
              " ViT blocks; a DPT backbone has a multiple of 4 (ViT-L: 24).", kMidasHint);
  for (int i = 0; i < 4; ++i) c.hooks[i] = (i + 1) * c.depth / 4 - 1;
  c.mlp_hidden = midas_shape_of(sd, "pretrained.model.blocks.0.mlp.fc1.weight", source, 2)[0];
  c.num_classes = sd.contains("pretrained.model.head.weight")
                      ? midas_shape_of(sd, "pretrained.model.head.weight", source, 2)[0]
                      : 0;
  for (int i = 0; i < 4; ++i)
    c.reassemble[i] =
        midas_shape_of(sd, "pretrained.act_postprocess" + std::to_string(i + 1) + ".3.weight", source, 4)[0];
  c.fusion = midas_shape_of(sd, "scratch.layer1_rn.weight", source, 4)[0];
  return c;
}

DPTDepthModelImpl::DPTDepthModelImpl(const DPTConfig& config) : config_(config) {
  const auto& c = config_;
  pretrained = register_module("pretrained", DPTBackbone(c.patch_size, c.embed_dim, c.grid, c.depth, c.num_heads,
                                                         c.mlp_hidden, c.num_classes, c.reassemble, c.hooks));
  scratch = register_module("scratch", DPTScratch(c.reassemble, c.fusion));
}

torch::Tensor DPTDepthModelImpl::forward(const torch::Tensor& x) {
  return scratch->forward(pretrained->forward(x)).squeeze(1);
}

DPTDepthModel load_midas(const std::string& path) {
  io::TensorMap sd = io::load_weights_file(path);
  // BaseModel.load: a training checkpoint {"model": ..., "optimizer": ...} holds the weights in
  // "model" (the reader has flattened it to "model.<key>" when the optimizer entry held tensors only).
  if (!sd.contains("pretrained.model.pos_embed") && sd.contains("model.pretrained.model.pos_embed")) {
    io::TensorMap inner;
    for (const auto& item : sd)
      if (item.key().rfind("model.", 0) == 0) inner.insert(item.key().substr(6), item.value());
    sd = std::move(inner);
  }
  torch::NoGradGuard no_grad;
  DPTDepthModel model(DPTConfig::from_state_dict(sd, path));
  io::load_state_dict(*model, sd, path);
  model->eval();
  return model;
}

void move_midas_to(DPTDepthModel& model, c10::Device device) {
  torch::NoGradGuard no_grad;
  // QUIRK(dd-spec §11.4): init_midas_depth_model(optimize=True) would make the model float16 and
  // channels_last on CUDA, but it tests DEVICE == torch.device("cuda"), and DD's DEVICE is
  // cuda:0, which never equals it: MiDaS runs in float32 on every device.
  model->to(device);
}

}  // namespace disco::depth
