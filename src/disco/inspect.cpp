#include "disco/inspect.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "clip/clip_config.h"
#include "clip/open_clip.h"
#include "common/error.h"
#include "diffusion/secondary_model.h"
#include "diffusion/unet_config.h"
#include "disco/settings.h"
#include "io/image.h"
#include "io/state_dict.h"
#include "io/weights_file.h"

namespace disco {
namespace {
namespace fs = std::filesystem;

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::ScalarType::Float: return "float32";
    case c10::ScalarType::Half: return "float16";
    case c10::ScalarType::BFloat16: return "bfloat16";
    case c10::ScalarType::Double: return "float64";
    case c10::ScalarType::Long: return "int64";
    case c10::ScalarType::Int: return "int32";
    case c10::ScalarType::Short: return "int16";
    case c10::ScalarType::Char: return "int8";
    case c10::ScalarType::Byte: return "uint8";
    case c10::ScalarType::Bool: return "bool";
    default: return c10::toString(t);
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string describe_unet(const io::TensorMap& sd) {
  if (auto m = diffusion::detect_preset(sd)) {
    std::string d = "guided-diffusion UNet, preset " + m->name;
    if (m->same_architecture.size() > 1)
      d += " (same architecture as " + join(m->same_architecture) +
           ": the weights cannot tell these apart)";
    return d;
  }
  // Not a preset: say what the shapes tell, and what the user must add.
  diffusion::UNetConfig c;
  try {
    c = diffusion::infer_architecture(sd);
  } catch (const ModelMismatchError& e) {
    // Readable tensors that are not a whole network (e.g. a training-layout subset): say so.
    return std::string("incomplete guided-diffusion UNet weights, not loadable as a network (") + e.what() + ")";
  }
  return "guided-diffusion UNet, custom configuration (" + c.summary() +
         "); head counts are not stored in the weights: run it with --model-config FILE.json";
}

// DD's secondary model has one fixed architecture: every key and shape must match.
std::string describe_secondary(const io::TensorMap& sd) {
  diffusion::SecondaryDiffusionImageNet2 reference;
  auto params = reference->named_parameters(true);
  bool exact = params.size() == sd.size();
  for (const auto& p : params) {
    const at::Tensor* t = sd.find(p.key());
    exact = exact && t && t->sizes() == p.value().sizes();
  }
  return exact ? "secondary model (SecondaryDiffusionImageNet2)"
               : "damaged or modified secondary model (keys/shapes differ from SecondaryDiffusionImageNet2)";
}

// DD's setting name of a CLIP model name ("ViTB32_laion2b_e16" for "ViT-B-32::laion2b_e16").
std::string dd_flag_of(const std::string& name) {
  for (const auto& [flag, n] : clip_model_flags())
    if (n == name) return flag;
  return "";
}

// One of open_clip's published files, by name: which models it serves and with which activation.
// The weights cannot tell GELU from QuickGELU; the model name picks it, as in open_clip.
std::string describe_open_clip_file(const std::vector<const clip::OpenClipModel*>& models) {
  std::string d = "OpenCLIP " + models.front()->architecture + " architecture, open_clip's " +
                  models.front()->pretrained + " weights (" + models.front()->file + "), for ";
  for (size_t i = 0; i < models.size(); ++i)
    d += (i ? " and " : "") + models[i]->name() + " (DD's " + dd_flag_of(models[i]->name()) + ", " +
         (models[i]->quick_gelu() ? "QuickGELU" : "GELU") + ")";
  return d;
}

// OpenAI's files are TorchScript; a torch.save state dict of the same shapes is OpenCLIP's format
// (or disco demo's), and its file name may say which published checkpoint it is.
std::string describe_clip(const io::TensorMap& sd, const std::string& path, bool torchscript) {
  clip::CLIPConfig c = clip::CLIPConfig::from_state_dict(sd, path);
  std::string name = clip::identify(c);
  const auto published = clip::open_clip_models_of_file(fs::path(path).filename().string());
  if (!torchscript && !name.empty() && !published.empty() && published.front()->architecture == name)
    return describe_open_clip_file(published);
  if (name.empty()) return "CLIP model, not one of OpenAI's nine (" + c.to_string() + ")";
  std::string d = "CLIP " + name;
  if (torchscript) return d;
  std::string open_clip_names;
  for (const auto& m : clip::open_clip_models())
    if (m.architecture == name && open_clip_names.find(m.model + "::") == std::string::npos)
      open_clip_names += (open_clip_names.empty() ? "" : ", ") + m.model + "::…";
  return d + " architecture as a torch.save state dict" +
         (open_clip_names.empty() ? "" : " (OpenCLIP's format: " + open_clip_names +
                                              " have these shapes; their file names tell the weights apart)");
}

// 3D mode's depth networks: MiDaS v3's DPT (ViT backbone) and AdaBins (EfficientNet-B5 encoder).
std::string describe_depth(const io::TensorMap& sd) {
  if (sd.contains("pretrained.model.patch_embed.proj.weight")) {
    const auto embed = sd["pretrained.model.patch_embed.proj.weight"].size(0);
    int64_t blocks = 0;
    while (sd.contains("pretrained.model.blocks." + std::to_string(blocks) + ".norm1.weight")) ++blocks;
    const bool large = embed == 1024 && blocks == 24;
    return "MiDaS v3 DPT depth model (" + std::string(large ? "dpt_large: " : "") + "ViT, " + std::to_string(blocks) +
           " blocks of width " + std::to_string(embed) + ")";
  }
  if (sd.contains("pretrained.model.patch_embed.backbone.stem.conv.weight"))
    return "MiDaS v3 DPT-Hybrid depth model (dpt_hybrid / dpt_hybrid_nyu; not built into disco-cpp yet)";
  return "AdaBins depth model (UnetAdaptiveBins: EfficientNet encoder, mini-ViT bins)";
}

bool is_depth_model(const io::TensorMap& sd) {
  return sd.contains("scratch.output_conv.0.weight") ||
         (sd.contains("encoder.original_model.conv_stem.weight") && sd.contains("conv_out.0.weight"));
}

// Which network a state dict belongs to, from its keys and shapes.
std::string describe(const io::TensorMap& file_sd, const std::string& path, bool torchscript) {
  const io::TensorMap sd = io::strip_module_prefix(file_sd);  // open_clip's training checkpoints
  if (sd.contains("time_embed.0.weight") && sd.contains("input_blocks.0.0.weight")) return describe_unet(sd);
  if (sd.contains("timestep_embed.weight") && sd.contains("net.0.0.weight")) return describe_secondary(sd);
  if (sd.contains("token_embedding.weight") && sd.contains("visual.conv1.weight"))
    return describe_clip(sd, path, torchscript);
  if (is_depth_model(sd)) return describe_depth(sd);
  return "a file of " + std::to_string(sd.size()) + " tensors that is no model disco-cpp knows";
}

// BatchNorm running statistics are state, not parameters (RN50: 53,248 of them).
bool is_running_stat(const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".running_mean") || ends_with(".running_var");
}

}  // namespace

namespace {
// A state dict, or the 'model' entry of a training checkpoint whose other entries (an optimizer's
// lists and numbers) are no dict of tensors: AdaBins_nyu.pt's layout.
io::TensorMap read_tensors_for_inspect(const std::string& path, io::FileKind kind) {
  try {
    return io::load_tensors(path);
  } catch (const CheckpointError&) {
    if (kind == io::FileKind::TorchScript) throw;
    try {
      return io::load_weights_entry(path, "model");
    } catch (const CheckpointError&) {
    }
    throw;
  }
}

bool is_png(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char magic[8] = {0};
  f.read(magic, 8);
  return f.gcount() == 8 && std::string(magic, 8) == std::string("\x89PNG\r\n\x1a\n", 8);
}

// Images are inspected too: `disco --from IMAGE.png` re-runs what an image disco wrote embeds.
ModelFileInfo inspect_png(const std::string& path) {
  ModelFileInfo info;
  info.path = path;
  info.format = "PNG image";
  io::Image8 img = io::read_png(path);
  io::PngText text = io::read_png_text(path);
  info.description = "PNG image, " + std::to_string(img.width) + "x" + std::to_string(img.height);
  info.description += text.count("disco-settings")
                          ? ", with disco settings embedded (disco --from FILE makes it again)"
                          : ", no disco settings embedded";
  return info;
}
}  // namespace

ModelFileInfo inspect_model_file(const std::string& path) {
  if (is_png(path)) return inspect_png(path);
  ModelFileInfo info;
  info.path = path;
  io::FileKind kind = io::detect_file_kind(path);
  io::TensorMap sd = read_tensors_for_inspect(path, kind);
  info.format = kind == io::FileKind::TorchScript ? "TorchScript archive" : "torch.save zip archive";
  info.description = describe(sd, path, kind == io::FileKind::TorchScript);
  for (const auto& item : sd) {
    const at::Tensor& t = item.value();
    TensorInfo ti{item.key(), t.sizes().vec(), dtype_name(t.scalar_type())};
    info.dtypes[ti.dtype] += 1;
    if (t.is_floating_point() && !is_running_stat(item.key())) info.n_parameters += t.numel();
    info.tensors.push_back(std::move(ti));
  }
  info.n_tensors = int64_t(sd.size());
  return info;
}

}  // namespace disco
