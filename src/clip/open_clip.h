// The OpenCLIP models Disco Diffusion v5.7 offers (dd-spec §2.1, §8, §13): open_clip 2.12.0's
// pretrained registry (pretrained.py) and model configs (model_configs/*.json). The towers are
// OpenAI's CLIP; only the MLP activation differs, and the model name decides it, never the
// weights. load_open_clip (clip_model.h) builds them. Free of libtorch: the model manager lists
// them without it.
#pragma once
#include <string>
#include <vector>

namespace disco::clip {

// One pretrained model of open_clip's registry (open_clip/pretrained.py).
struct OpenClipModel {
  std::string model;         // open_clip model name: "ViT-B-32-quickgelu"
  std::string pretrained;    // open_clip pretrained tag: "laion400m_e31"
  std::string architecture;  // the OpenAI CLIP with the same tensors and shapes: "ViT-B/32"
  std::string file;          // the published file (open_clip release v0.2-weights)
  std::string sha256_prefix;  // the 8 hex digits in the file name: all open_clip itself checks

  // "ViT-B-32-quickgelu::laion400m_e31", the spelling discoart uses and users select.
  std::string name() const { return model + "::" + pretrained; }
  // open_clip's model configs set quick_gelu exactly for the "-quickgelu" names. The plain names
  // of laion400m, yfcc15m and cc12m load the same QuickGELU-trained files, with nn.GELU.
  bool quick_gelu() const;
  std::string url() const;
};

// DD v5.7's thirteen, in DD's model order (dd-spec §2.1).
const std::vector<OpenClipModel>& open_clip_models();
// By name() ("ViT-B-32::laion2b_e16"); nullptr when unknown.
const OpenClipModel* find_open_clip_model(const std::string& name);
// The models a published file serves (one or two), by file name; empty when it is none of them.
std::vector<const OpenClipModel*> open_clip_models_of_file(const std::string& file_name);

}  // namespace disco::clip
