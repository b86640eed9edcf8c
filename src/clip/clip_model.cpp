// clip.model.CLIP, convert_weights and clip.load, models-spec §3.1, §3.6; open_clip 2.12.0's
// create_model and load_checkpoint (factory.py) for the OpenCLIP models, dd-spec §8.
#include "clip/clip_model.h"

#include <limits>

#include "common/error.h"
#include "io/state_dict.h"

namespace disco::clip {
namespace nn = torch::nn;

CLIPImpl::CLIPImpl(const CLIPConfig& c) : config_(c) {
  const int64_t width = c.transformer_width;
  const auto act = c.quick_gelu ? MlpActivation::QuickGELU : MlpActivation::GELU;
  if (c.is_vit) {
    DISCO_CHECK(c.vision_layers.size() == 1 && c.vision_patch_size > 0, ModelMismatchError,
                "a CLIP ViT needs one layer count and a patch size (", c.to_string(), ")");
    vit = register_module("visual", VisionTransformer(c.image_resolution, c.vision_patch_size, c.vision_width,
                                                      c.vision_layers[0], c.vision_heads(), c.embed_dim, act));
  } else {
    resnet = register_module("visual", ModifiedResNet(c.vision_layers, c.embed_dim, c.vision_heads(),
                                                      c.image_resolution, c.vision_width));
  }
  transformer = register_module("transformer", Transformer(width, c.transformer_layers, c.transformer_heads, act));
  token_embedding = register_module("token_embedding", nn::Embedding(c.vocab_size, width));
  positional_embedding = register_parameter("positional_embedding", 0.01 * torch::randn({c.context_length, width}));
  ln_final = register_module("ln_final", LayerNorm(width));
  text_projection = register_parameter("text_projection",
                                       torch::randn({width, c.embed_dim}) / std::sqrt(static_cast<double>(width)));
  logit_scale = register_parameter("logit_scale", torch::full({}, std::log(1 / 0.07)));
}

torch::ScalarType CLIPImpl::dtype() const {
  return (config_.is_vit ? vit->conv1->weight : resnet->conv1->weight).scalar_type();
}

torch::Tensor CLIPImpl::encode_image(const torch::Tensor& image) {
  auto x = image.to(dtype());  // [N,3,R,R]
  auto features = config_.is_vit ? vit(x) : resnet(x);
  return features.to(torch::kFloat);  // DD .float()s the embeddings
}

void CLIPImpl::move_text_encoder(const torch::Device& device) {
  torch::NoGradGuard no_grad;
  transformer->to(device);
  token_embedding->to(device);
  ln_final->to(device);
  positional_embedding.set_data(positional_embedding.to(device));
  text_projection.set_data(text_projection.to(device));
}

torch::Tensor CLIPImpl::encode_text(const torch::Tensor& tokens_in) {
  const auto image_device = (config_.is_vit ? vit->conv1->weight : resnet->conv1->weight).device();
  DISCO_CHECK(text_projection.device() == image_device, RuntimeError,
              "CLIP's text encoder is parked on ", text_projection.device(), "; move it back to ", image_device,
              " (move_text_encoder) before encoding prompts.");
  auto tokens = tokens_in.to(torch::kLong);              // [N,L]
  auto x = token_embedding(tokens).to(dtype());          // [N,L,width]
  x = x + positional_embedding.to(dtype());
  const int64_t L = x.size(1);
  // Causal mask: position i attends to j <= i.
  auto mask = torch::full({L, L}, -std::numeric_limits<float>::infinity(), x.options()).triu_(1);
  x = transformer(x.permute({1, 0, 2}), mask);            // [L,N,width]
  x = ln_final(x.permute({1, 0, 2}));                    // [N,L,width]
  // The end-of-text token has the largest id (49407), so its position is the argmax.
  auto eot = tokens.argmax(-1);                          // [N]
  x = x.index({torch::arange(x.size(0), eot.options()), eot});  // [N,width]
  return x.matmul(text_projection).to(torch::kFloat);    // [N,embed_dim]
}

void CLIPImpl::convert_weights(torch::ScalarType dtype) {
  torch::NoGradGuard no_grad;
  auto cast = [dtype](torch::Tensor& t) {
    if (t.defined()) t.set_data(t.to(dtype));
  };
  for (const auto& m : modules(/*include_self=*/true)) {
    if (auto* l = m->as<nn::LinearImpl>()) {
      cast(l->weight);
      cast(l->bias);
    } else if (auto* c = m->as<nn::Conv2dImpl>()) {
      cast(c->weight);
      cast(c->bias);
    } else if (auto* a = m->as<MultiheadAttentionImpl>()) {
      cast(a->in_proj_weight);
      cast(a->in_proj_bias);
    } else if (auto* v = m->as<VisionTransformerImpl>()) {
      cast(v->proj);
    }
  }
  cast(text_projection);
  fold_batchnorm(false);
}

void CLIPImpl::fold_batchnorm(bool on) {
  if (resnet) resnet->fold_batchnorm(on);
}

void CLIPImpl::set_fused_attention(bool on) {
  transformer->set_fused_attention(on);
  if (vit) vit->transformer->set_fused_attention(on);
  if (resnet) resnet->attnpool->fused = on;
}

void CLIPImpl::set_lean_image_mlp(bool on) {
  if (vit) vit->transformer->set_lean_mlp(on);
}

bool CLIPImpl::lean_image_mlp() const { return vit && vit->transformer->lean_mlp(); }

io::TensorMap ordered_state_dict(const nn::Module& module) {
  io::TensorMap out;
  for (const auto& m : module.named_modules(/*name_prefix=*/"", /*include_self=*/true)) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto& p : m.value()->named_parameters(/*recurse=*/false)) out.insert(prefix + p.key(), p.value());
    for (const auto& b : m.value()->named_buffers(/*recurse=*/false)) out.insert(prefix + b.key(), b.value());
  }
  return out;
}

const std::vector<std::string>& jit_only_keys() {
  static const std::vector<std::string> keys = {"input_resolution", "context_length", "vocab_size"};
  return keys;
}

CLIP load_clip(const std::string& path, torch::Device device, torch::ScalarType dtype) {
  DISCO_CHECK(dtype == torch::kFloat || dtype == torch::kHalf || dtype == torch::kBFloat16, SettingsError,
              "CLIP precision must be float32, float16 or bfloat16 (got ", c10::toString(dtype), ")");
  // OpenAI's TorchScript archive, or a torch.save state dict with the same keys (OpenCLIP's
  // OpenAI-architecture checkpoints, disco demo's model): load_tensors picks the reader.
  io::TensorMap sd = io::load_tensors(path);
  CLIP model(CLIPConfig::from_state_dict(sd, path));
  // Values arrive in the file's dtypes (float16 weights) and strides (possibly non-contiguous);
  // copy_ converts both, exactly, into the float32 parameters.
  io::load_state_dict(*model, sd, path, jit_only_keys());
  if (dtype != torch::kFloat) model->convert_weights(dtype);
  model->to(device);
  model->eval();
  for (auto& p : model->parameters()) p.requires_grad_(false);
  return model;
}

namespace {

const CLIPConfig& openai_config(const std::string& architecture) {
  for (const auto& m : known_models())
    if (m.name == architecture) return m.config;
  throw ModelMismatchError(detail::concat("no OpenAI CLIP architecture '", architecture, "'"));
}

// Builds the model for `sd` and copies every tensor, strictly (load_checkpoint's strict=True).
CLIP build_open_clip(const io::TensorMap& sd, CLIPConfig config, const std::string& path, torch::Device device) {
  CLIP model(config);
  io::load_state_dict(*model, sd, path);
  model->to(device);
  model->eval();
  for (auto& p : model->parameters()) p.requires_grad_(false);
  return model;
}

}  // namespace

io::TensorMap read_open_clip_state_dict(const std::string& path) {
  // open_clip reads these with torch.load, never as TorchScript: an OpenAI .pt here is a mix-up.
  DISCO_CHECK(io::detect_file_kind(path) != io::FileKind::TorchScript, ModelMismatchError, "'", path,
              "' is a TorchScript archive (OpenAI's CLIP format), not an open_clip checkpoint (a torch.save state "
              "dict); select OpenAI models by their own names (ViT-B/32, RN50, ...)");
  // load_weights_file takes a training checkpoint's 'state_dict' alone, as open_clip does.
  return io::strip_module_prefix(io::load_weights_file(path));
}

CLIP load_open_clip(const std::string& path, const OpenClipModel& model, torch::Device device) {
  const io::TensorMap sd = read_open_clip_state_dict(path);
  CLIPConfig config = openai_config(model.architecture);
  const CLIPConfig found = CLIPConfig::from_state_dict(sd, path);
  DISCO_CHECK(found == config, ModelMismatchError, "'", path, "' holds a CLIP with ", found.to_string(),
              ", not open_clip's ", model.model, " (", config.to_string(), "); it is not the ", model.name(),
              " checkpoint '", model.file, "'");
  config.quick_gelu = model.quick_gelu();
  return build_open_clip(sd, config, path, device);
}

CLIP load_open_clip(const std::string& path, bool quick_gelu, torch::Device device) {
  const io::TensorMap sd = read_open_clip_state_dict(path);
  CLIPConfig config = CLIPConfig::from_state_dict(sd, path);
  config.quick_gelu = quick_gelu;
  return build_open_clip(sd, config, path, device);
}

}  // namespace disco::clip
