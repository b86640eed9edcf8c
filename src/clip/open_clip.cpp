// open_clip 2.12.0's pretrained registry (pretrained.py, model_configs/*.json), dd-spec §2.1, §13.
#include "clip/open_clip.h"

#include "common/strings.h"

namespace disco::clip {
namespace {

const char* kReleaseBase = "https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/";

// The published files; the name ends in "-<first 8 hex digits of its sha256>.<ext>".
OpenClipModel open_clip_entry(const std::string& model, const std::string& pretrained, const std::string& architecture,
                              const std::string& file) {
  const auto dash = file.rfind('-'), dot = file.rfind('.');
  return {model, pretrained, architecture, file, file.substr(dash + 1, dot - dash - 1)};
}

}  // namespace

bool OpenClipModel::quick_gelu() const { return ends_with(model, "-quickgelu"); }

std::string OpenClipModel::url() const { return kReleaseBase + file; }

const std::vector<OpenClipModel>& open_clip_models() {
  static const std::vector<OpenClipModel> models = {
      open_clip_entry("ViT-B-32", "laion2b_e16", "ViT-B/32", "vit_b_32-laion2b_e16-af8dbd0c.pth"),
      open_clip_entry("ViT-B-32", "laion400m_e31", "ViT-B/32", "vit_b_32-quickgelu-laion400m_e31-d867053b.pt"),
      open_clip_entry("ViT-B-32", "laion400m_e32", "ViT-B/32", "vit_b_32-quickgelu-laion400m_e32-46683a32.pt"),
      open_clip_entry("ViT-B-32-quickgelu", "laion400m_e31", "ViT-B/32", "vit_b_32-quickgelu-laion400m_e31-d867053b.pt"),
      open_clip_entry("ViT-B-32-quickgelu", "laion400m_e32", "ViT-B/32", "vit_b_32-quickgelu-laion400m_e32-46683a32.pt"),
      open_clip_entry("ViT-B-16", "laion400m_e31", "ViT-B/16", "vit_b_16-laion400m_e31-00efa78f.pt"),
      open_clip_entry("ViT-B-16", "laion400m_e32", "ViT-B/16", "vit_b_16-laion400m_e32-55e67d44.pt"),
      open_clip_entry("RN50", "yfcc15m", "RN50", "rn50-quickgelu-yfcc15m-455df137.pt"),
      open_clip_entry("RN50", "cc12m", "RN50", "rn50-quickgelu-cc12m-f000538c.pt"),
      open_clip_entry("RN50-quickgelu", "yfcc15m", "RN50", "rn50-quickgelu-yfcc15m-455df137.pt"),
      open_clip_entry("RN50-quickgelu", "cc12m", "RN50", "rn50-quickgelu-cc12m-f000538c.pt"),
      open_clip_entry("RN101", "yfcc15m", "RN101", "rn101-quickgelu-yfcc15m-3e04b30e.pt"),
      open_clip_entry("RN101-quickgelu", "yfcc15m", "RN101", "rn101-quickgelu-yfcc15m-3e04b30e.pt"),
  };
  return models;
}

const OpenClipModel* find_open_clip_model(const std::string& name) {
  for (const auto& m : open_clip_models())
    if (m.name() == name) return &m;
  return nullptr;
}

std::vector<const OpenClipModel*> open_clip_models_of_file(const std::string& file_name) {
  std::vector<const OpenClipModel*> out;
  for (const auto& m : open_clip_models())
    if (m.file == file_name) out.push_back(&m);
  return out;
}

}  // namespace disco::clip
