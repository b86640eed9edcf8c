// `disco demo`'s models and run (demo.h).
#include "disco/demo.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "clip/clip_config.h"
#include "clip/clip_model.h"
#include "common/error.h"
#include "common/strings.h"
#include "diffusion/unet.h"
#include "diffusion/unet_config.h"
#include "disco/models.h"
#include "io/weights_file.h"

namespace disco {
namespace {
namespace fs = std::filesystem;

// The fixture UNet cfgA (manifest.json unet.cfgA.model_config): DD's 512/256 family in miniature
// (resblock_updown, scale-shift norm, learn_sigma, attention at the lower of two 32-channel levels).
nlohmann::json demo_unet_model_config() {
  return {{"attention_resolutions", "16"}, {"channel_mult", "1,1"},  {"class_cond", false},
          {"diffusion_steps", 1000},       {"dropout", 0.0},         {"image_size", 32},
          {"learn_sigma", true},           {"noise_schedule", "linear"}, {"num_channels", 32},
          {"num_head_channels", 16},       {"num_heads", 4},         {"num_heads_upsample", -1},
          {"num_res_blocks", 1},           {"predict_xstart", false}, {"resblock_updown", true},
          {"rescale_learned_sigmas", false}, {"rescale_timesteps", true}, {"timestep_respacing", "ddim250"},
          {"use_checkpoint", true},        {"use_fp16", false},      {"use_kl", false},
          {"use_new_attention_order", false}, {"use_scale_shift_norm", true}};
}

// The fixture clip_vit_tiny.pt (manifest.json clip.files): clip.model.CLIP's arguments.
clip::CLIPConfig demo_clip_config() {
  clip::CLIPConfig c;
  c.embed_dim = 32;
  c.image_resolution = 32;
  c.vision_layers = {2};
  c.vision_width = 64;       // one head of 64
  c.vision_patch_size = 8;   // a 4x4 grid
  c.context_length = 77;
  c.vocab_size = 49408;      // the BPE vocabulary's size
  c.transformer_width = 64;  // one head of 64
  c.transformer_heads = 1;
  c.transformer_layers = 2;
  c.is_vit = true;
  return c;
}

// SplitMix64 (Steele, Lea, Flood 2014): a tiny generator with the same stream everywhere.
struct SplitMix64 {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  double uniform() { return (double(next() >> 11) + 0.5) * 0x1.0p-53; }  // (0, 1)
};

constexpr double kPi = 3.14159265358979323846;

uint64_t fnv1a(const std::string& s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ULL;
  return h;
}

// mean + std * N(0, 1) for every element, by Box-Muller over a stream keyed by the seed and the
// tensor's name: the values do not depend on libtorch's generators or on the other tensors.
torch::Tensor seeded_normal(const std::string& name, at::IntArrayRef sizes, double mean, double std) {
  SplitMix64 rng{kDemoWeightSeed ^ fnv1a(name)};
  int64_t n = 1;
  for (int64_t s : sizes) n *= s;
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); i += 2) {
    const double r = std::sqrt(-2.0 * std::log(rng.uniform())), theta = 2.0 * kPi * rng.uniform();
    v[i] = float(mean + std * r * std::cos(theta));
    if (i + 1 < v.size()) v[i + 1] = float(mean + std * r * std::sin(theta));
  }
  return torch::from_blob(v.data(), sizes, torch::kFloat).clone();
}

// The fixtures' scheme (manifest.json unet.construction_cfgA), for every parameter: weights and
// embeddings N(0, 1/fan_in) (variance 1/fan_in, fan_in = numel / size(0)), norm scales
// 1 + 0.1 N(0, 1), biases 0.05 N(0, 1); CLIP's logit_scale keeps its initial log(1/0.07).
// Nothing is left zero-initialised, so every block acts.
void fill_demo_weights(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(/*recurse=*/true)) {
    const std::string& name = p.key();
    torch::Tensor& t = p.value();
    if (t.dim() == 0) continue;  // logit_scale
    torch::Tensor v;
    if (ends_with(name, "bias")) {
      v = seeded_normal(name, t.sizes(), 0.0, 0.05);
    } else if (t.dim() == 1 && ends_with(name, "weight")) {
      v = seeded_normal(name, t.sizes(), 1.0, 0.1);  // GroupNorm / LayerNorm scales
    } else {
      const int64_t fan_in = t.dim() == 1 ? t.numel() : t.numel() / t.size(0);
      v = seeded_normal(name, t.sizes(), 0.0, 1.0 / std::sqrt(double(fan_in)));
    }
    t.copy_(v);
  }
}

void write_text_atomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".part" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    DISCO_CHECK(out, CheckpointError, "cannot write '", tmp, "': check that the folder is writable.");
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  DISCO_CHECK(!ec, CheckpointError, "cannot rename '", tmp, "' to '", path, "': ", ec.message(), ".");
}

void log_demo(const std::function<void(const std::string&)>& on_log, const std::string& line) {
  if (on_log) on_log(line);
}

std::string find_vocab(const DemoOptions& o, const std::string& models_dir) {
  if (!o.vocab.empty()) return o.vocab;  // run() checks that it exists
  const fs::path cached = fs::path(models_dir) / model_entry("bpe_simple_vocab_16e6").file_name;
  DISCO_CHECK(fs::is_regular_file(cached), SettingsError,
              "the demo needs CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz), which '", models_dir,
              "' lacks: pass --vocab FILE (offline, e.g. --vocab ../shared/data/bpe_simple_vocab_16e6.txt.gz "
              "where that folder exists), or download it once with `disco models fetch bpe_simple_vocab_16e6`.");
  return cached.string();
}

}  // namespace

DemoModelFiles demo_model_files(const std::string& models_dir) {
  const fs::path dir(models_dir);
  return {(dir / "demo_unet.pt").string(), (dir / "demo_unet_config.json").string(), (dir / "demo_clip.pt").string()};
}

DemoModelFiles ensure_demo_models(const std::string& models_dir,
                                  const std::function<void(const std::string&)>& on_log) {
  const DemoModelFiles files = demo_model_files(models_dir);
  std::error_code ec;
  fs::create_directories(models_dir, ec);
  DISCO_CHECK(fs::is_directory(models_dir), CheckpointError, "cannot create the model folder '", models_dir,
              "'", ec ? ": " + ec.message() : std::string(), ".");

  const nlohmann::json model_config = demo_unet_model_config();
  if (!fs::exists(files.unet_config)) {
    write_text_atomically(files.unet_config, model_config.dump(2) + "\n");
    log_demo(on_log, "wrote " + files.unet_config);
  }
  if (!fs::exists(files.unet)) {
    diffusion::UNetModel unet(diffusion::UNetConfig::from_model_config(model_config));
    fill_demo_weights(*unet);
    io::save_weights_file(clip::ordered_state_dict(*unet), files.unet);
    log_demo(on_log, "wrote " + files.unet + " (tiny UNet, random weights)");
  }
  if (!fs::exists(files.clip)) {
    clip::CLIP model(demo_clip_config());
    fill_demo_weights(*model);
    io::save_weights_file(clip::ordered_state_dict(*model), files.clip);
    log_demo(on_log, "wrote " + files.clip + " (tiny ViT CLIP, random weights)");
  }
  return files;
}

Settings demo_settings() {
  return merge_settings(Settings{},
                        {{"use_secondary_model", false}, {"width", 64}, {"height", 64}, {"steps", 8},
                         {"skip_steps", 2}, {"n_batches", 1}, {"seed", 42}, {"batch_name", "demo"}},
                        "the demo settings");
}

RunResult run_demo(const DemoOptions& o, const Callbacks& cb) {
  const std::string models_dir = o.models_dir.empty() ? default_models_dir() : o.models_dir;
  const std::string vocab = find_vocab(o, models_dir);  // before anything is written
  const DemoModelFiles files = ensure_demo_models(models_dir, cb.on_log);

  RunOptions ro;
  ro.out_dir = o.out_dir;
  ro.device = o.device;
  ro.models.models_dir = models_dir;
  ro.models.diffusion = files.unet;
  ro.models.diffusion_config = files.unet_config;
  ro.models.clip = {files.clip};
  ro.models.vocab = vocab;
  return run(demo_settings(), ro, cb);
}

}  // namespace disco
