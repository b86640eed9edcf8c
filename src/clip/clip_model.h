// clip.model.CLIP (image and text encoders) and clip.load as DD uses it, models-spec §3, dd-spec §8;
// open_clip.create_model for DD's OpenCLIP models (open_clip.h).
#pragma once
#include <string>

#include <torch/torch.h>

#include "clip/clip_config.h"
#include "clip/modified_resnet.h"
#include "clip/open_clip.h"
#include "clip/transformer.h"
#include "clip/vision_transformer.h"
#include "io/weights_file.h"

namespace disco::clip {

class CLIPImpl : public torch::nn::Module {
 public:
  explicit CLIPImpl(const CLIPConfig& config);

  // image [N,3,R,R], already normalised (preprocess.h) -> [N,embed_dim] float32.
  torch::Tensor encode_image(const torch::Tensor& image);
  // tokens [N,context_length] integer ids (int32 or int64) -> [N,embed_dim] float32.
  torch::Tensor encode_text(const torch::Tensor& tokens);

  // CLIP's convert_weights with `dtype` (kHalf reproduces DD on CUDA): Conv/Linear weights and
  // biases, attention in_proj, visual.proj and text_projection; LayerNorm, BatchNorm, embeddings
  // and logit_scale stay float32. kFloat turns everything back to float32.
  // It also undoes fold_batchnorm.
  void convert_weights(torch::ScalarType dtype);
  // ModifiedResNet::fold_batchnorm for a ResNet image encoder (`--precision fast`); nothing for a ViT.
  void fold_batchnorm(bool on);
  // A ViT image encoder's recorded graph keeps each MLP's input instead of its hidden layer, for a
  // tight GPU budget (TransformerImpl::set_lean_mlp); nothing for a ResNet.
  void set_lean_image_mlp(bool on);
  // On (the default): every attention in one fused kernel where the libtorch has it. Off: the
  // reference's explicit softmax(q kᵀ) v (to compare with it: disco bench --no-fused-attention).
  void set_fused_attention(bool on);
  bool lean_image_mlp() const;
  // Moves the text encoder (token/positional embeddings, transformer, ln_final, text_projection)
  // to `device`. The run parks it on the CPU while sampling, where only encode_image runs, and
  // brings it back afterwards; encode_text needs it on the image encoder's device.
  void move_text_encoder(const torch::Device& device);
  // The activation dtype (Python: self.visual.conv1.weight.dtype).
  torch::ScalarType dtype() const;
  const CLIPConfig& config() const { return config_; }

  // Own tensors first (Python state_dict order), then the children in Python's order.
  torch::Tensor positional_embedding, text_projection, logit_scale;
  VisionTransformer vit{nullptr};  // registered as "visual" when config.is_vit
  ModifiedResNet resnet{nullptr};  // registered as "visual" otherwise
  Transformer transformer{nullptr};
  torch::nn::Embedding token_embedding{nullptr};
  LayerNorm ln_final{nullptr};

 private:
  CLIPConfig config_;
};
TORCH_MODULE(CLIP);

// Parameters and buffers in Python's state_dict() order: for each module in pre-order, its own
// parameters, then its own buffers (libtorch's named_parameters/named_buffers separate the two).
io::TensorMap ordered_state_dict(const torch::nn::Module& module);

// The tensors a TorchScript CLIP file carries besides the state dict (build_model drops them).
const std::vector<std::string>& jit_only_keys();

// clip.load(path, jit=False) followed by DD's .eval().requires_grad_(False): reads the
// TorchScript archive (or a torch.save zip of the same state dict: visual.*, transformer.*,
// token_embedding.weight, positional_embedding, ln_final.*, text_projection, logit_scale),
// infers the configuration, builds the model and loads every tensor strictly. `dtype` kFloat
// gives DD-on-CPU (all float32, the default); kHalf gives DD-on-CUDA's mixed precision
// (convert_weights); kBFloat16 the same pattern where half is unsupported (CPU).
CLIP load_clip(const std::string& path, torch::Device device = torch::kCPU,
               torch::ScalarType dtype = torch::kFloat);

// open_clip.factory.load_state_dict: the tensors of a torch.save file (a state dict, or a
// training checkpoint holding one under 'state_dict'), with DistributedDataParallel's 'module.'
// prefix removed. Never TorchScript: open_clip's own files are plain torch.save pickles.
io::TensorMap read_open_clip_state_dict(const std::string& path);

// create_model(model.model, pretrained=model.pretrained).eval().requires_grad_(False) on `path`,
// as DD does: the file must hold `model.architecture`'s tensors, loaded strictly. Always float32:
// DD builds OpenCLIP models in fp32 on every device (dd-spec §8).
CLIP load_open_clip(const std::string& path, const OpenClipModel& model, torch::Device device = torch::kCPU);
// The same for any open_clip checkpoint of OpenAI's layout (the architecture read from the
// shapes), with the activation given: the tiny test configurations, files under other names.
CLIP load_open_clip(const std::string& path, bool quick_gelu, torch::Device device = torch::kCPU);

}  // namespace disco::clip
