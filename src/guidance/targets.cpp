// Prompt targets (dd-spec §6).
#include "guidance/targets.h"

#include <cmath>

#include "clip/preprocess.h"
#include "common/error.h"
#include "guidance/cutouts.h"

namespace disco::guidance {
namespace {

constexpr int64_t kFuzzyCopies = 25;      // dd-spec §6.1
constexpr int64_t kImagePromptCuts = 16;  // dd-spec §6.2

torch::Device device_of(clip::CLIP& model) {
  auto params = model->parameters();
  return params.empty() ? torch::Device(torch::kCPU) : params.front().device();
}

}  // namespace

torch::Tensor encode_text_target(clip::CLIP& model, const clip::CLIPTokenizer& tokenizer, const std::string& text,
                                 bool truncate) {
  torch::NoGradGuard no_grad;
  const auto tokens = tokenizer.tokenize(text, clip::CLIPTokenizer::kContextLength, truncate).unsqueeze(0).to(device_of(model));
  return model->encode_text(tokens).to(torch::kFloat);                            // [1, D]
}

torch::Tensor encode_image_target(clip::CLIP& model, int64_t cut_size, const torch::Tensor& image, bool skip_augs,
                                  at::Generator& cpu, at::Generator& noise) {
  torch::NoGradGuard no_grad;
  const auto batch = make_cutouts_prompt(image.to(device_of(model)), cut_size, kImagePromptCuts, skip_augs, cpu, noise);
  // QUIRK(dd-spec §6.2 step 4): the cuts are in [-1, 1] but get the [0, 1] CLIP statistics.
  return model->encode_image(clip::normalize(batch)).to(torch::kFloat);  // [16, D]
}

torch::Tensor normalized_weights(const std::vector<double>& weights, const torch::Device& device) {
  DISCO_CHECK(!weights.empty(), SettingsError, "there are no prompts to guide with; give at least one text or image prompt.");
  std::vector<float> w(weights.begin(), weights.end());
  auto t = torch::tensor(w, torch::TensorOptions().dtype(torch::kFloat)).to(device);  // torch.tensor(list) is float32
  const float total = t.sum().abs().item<float>();
  DISCO_CHECK(total >= 1e-3f, SettingsError,
              "The weights must not sum to 0: the prompt weights of a CLIP model add up to ", t.sum().item<float>(),
              "; change a weight so that they do not cancel out.");
  return t / t.sum().abs();
}

ClipGuide make_clip_guide(clip::CLIP model, const clip::CLIPTokenizer& tokenizer, const std::vector<TextTarget>& texts,
                          const std::vector<ImageTarget>& images, const TargetOptions& options, at::Generator& cpu,
                          at::Generator& noise, int64_t cut_size) {
  ClipGuide guide;
  guide.model = model;
  guide.cut_size = cut_size > 0 ? cut_size : model->config().image_resolution;
  const auto device = device_of(model);
  std::vector<torch::Tensor> embeds;
  std::vector<double> weights;
  for (const auto& p : texts) {
    const auto e = encode_text_target(model, tokenizer, p.text, options.truncate);  // [1, D]
    if (options.fuzzy_prompt) {
      // Noise drawn on the CPU with e's shape, then moved; the clean embedding is not a target.
      for (int64_t i = 0; i < kFuzzyCopies; ++i) {
        const auto n = torch::randn(e.sizes(), cpu, torch::kFloat).to(device);
        embeds.push_back((e + n * static_cast<float>(options.rand_mag)).clamp(0, 1));
        weights.push_back(p.weight);
      }
    } else {
      embeds.push_back(e);
      weights.push_back(p.weight);
    }
  }
  for (const auto& p : images) {
    embeds.push_back(encode_image_target(model, guide.cut_size, p.image, options.skip_augs, cpu, noise));
    for (int64_t i = 0; i < kImagePromptCuts; ++i) weights.push_back(p.weight / static_cast<double>(kImagePromptCuts));
  }
  guide.weights = normalized_weights(weights, device);
  guide.target_embeds = torch::cat(embeds);  // [n, D]
  return guide;
}

}  // namespace disco::guidance
