// `disco demo`: a first run that needs no download but CLIP's BPE vocabulary. It writes tiny
// models with seeded random weights (a UNet and a ViT CLIP of the test fixtures' sizes) into the
// model folder and runs the whole pipeline on them at 64x64. The weights are random, so the
// image is noise-like: the demo shows that the program works, not what it makes.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "disco/run.h"
#include "disco/settings.h"

namespace disco {

// Every demo weight is a pure function of this seed and the tensor's name.
inline constexpr uint64_t kDemoWeightSeed = 42;

struct DemoModelFiles {
  std::string unet;         // demo_unet.pt: torch.save zip of the UNet's state dict
  std::string unet_config;  // demo_unet_config.json: its guided-diffusion model_config
  std::string clip;         // demo_clip.pt: torch.save zip of the CLIP's state dict (OpenAI keys)
};

// Where the demo models live in `models_dir` (nothing is read or written).
DemoModelFiles demo_model_files(const std::string& models_dir);

// Writes each demo file that `models_dir` lacks (creating the folder), atomically, and returns
// the paths. The weights come from kDemoWeightSeed alone (no libtorch generator), so every
// machine writes the same ones. `on_log` gets one line per file written. Throws CheckpointError when a file cannot be written.
DemoModelFiles ensure_demo_models(const std::string& models_dir,
                                  const std::function<void(const std::string&)>& on_log = {});

struct DemoOptions {
  std::string models_dir;     // empty: default_models_dir()
  std::string out_dir;        // empty: images_out/demo
  std::string vocab;          // empty: bpe_simple_vocab_16e6 from the model folder (never downloaded)
  std::string device = "cpu";
};

// DD's default prompts at 64x64, 8 DDIM steps (skip 2), one image, no secondary model, seed 42,
// batch_name "demo".
Settings demo_settings();

// Finds the vocabulary (SettingsError saying both ways to get it when there is none), writes the
// demo models if missing and runs demo_settings() on them.
RunResult run_demo(const DemoOptions& options, const Callbacks& callbacks = {});

}  // namespace disco
