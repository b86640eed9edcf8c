// Prompt targets per CLIP model (dd-spec §6): text embeddings (with fuzzy_prompt's noisy copies),
// image-prompt embeddings (16 cuts of w/16), weights divided by |Σw|. Prompts arrive parsed
// (disco/prompts.h); this module knows nothing of prompt strings' syntax.
#pragma once
#include <string>
#include <vector>
#include <ATen/core/Generator.h>
#include <torch/torch.h>
#include "clip/clip_model.h"
#include "clip/tokenizer.h"
#include "guidance/cond_fn.h"

namespace disco::guidance {

struct TextTarget {
  std::string text;   // what is tokenised: DD's ORIGINAL string, ":weight" included (dd-spec §15.9)
  double weight = 1;
};

struct ImageTarget {
  // The prompt image already resized as DD does (shorter edge to min(side_x, side_y, W, H),
  // PIL LANCZOS) and mapped to [-1, 1]: [1,3,H,W] float32.
  torch::Tensor image;
  double weight = 1;
};

struct TargetOptions {
  bool fuzzy_prompt = false;
  double rand_mag = 0.05;
  bool skip_augs = false;  // image prompts' per-cut augmentations
  bool truncate = false;   // a text over 77 tokens is cut (clip.tokenize(truncate=True)) instead of refused
};

// encode_text(tokenize(text)).float() -> [1, D] (SettingsError for a text over 77 tokens unless
// `truncate`).
torch::Tensor encode_text_target(clip::CLIP& model, const clip::CLIPTokenizer& tokenizer, const std::string& text,
                                 bool truncate = false);

// MakeCutouts(cut, 16) of the image, normalised with the CLIP statistics while still in [-1, 1]
// (QUIRK(dd-spec §6.2 step 4)), encoded -> [16, D].
torch::Tensor encode_image_target(clip::CLIP& model, int64_t cut_size, const torch::Tensor& image, bool skip_augs,
                                  at::Generator& cpu, at::Generator& noise);

// DD's weight tensor: float32 weights / |float32 sum| (signs kept). SettingsError "The weights
// must not sum to 0" when |Σw| < 1e-3.
torch::Tensor normalized_weights(const std::vector<double>& weights, const torch::Device& device);

// A full guide for one CLIP model: text targets first (with fuzzy_prompt: 25 copies
// clamp(e + N(0,1)·rand_mag, 0, 1) each, noise drawn from `cpu` on the CPU, the clean embedding
// dropped), then the 16 cuts of each image prompt (never fuzzed: DD's fuzzy + image prompt
// combination crashes, dd-spec §6.2.6; this port keeps image targets clean instead).
// cut_size 0 means the model's image_resolution.
ClipGuide make_clip_guide(clip::CLIP model, const clip::CLIPTokenizer& tokenizer, const std::vector<TextTarget>& texts,
                          const std::vector<ImageTarget>& images, const TargetOptions& options, at::Generator& cpu,
                          at::Generator& noise, int64_t cut_size = 0);

}  // namespace disco::guidance
