// A Disco Diffusion run (dd-spec §1, §4, §12, §14): models, prompt targets, the guided DDIM/PLMS
// loop and the files it writes. Reports through Callbacks; throws disco::Error subclasses.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "disco/settings.h"

namespace disco {

struct Callbacks {
  std::function<void(const std::string& line)> on_log;
  // The current image's sampler step (1..steps) and the seconds since that image started.
  std::function<void(int step, int steps, double elapsed_s)> on_progress;
  // progress.png (or an intermediate) was just written; `step` is the 0-based loop step.
  std::function<void(const std::string& path, int step)> on_preview;
  // Polled before every sampler step; true stops the run with CancelledError.
  std::function<bool()> should_cancel;
  // A model file being downloaded by the model manager (total = -1 when unknown).
  std::function<void(const std::string& name, int64_t received, int64_t total)> on_download;
};

// Where the weights come from. An empty field means the model manager: the file in the cache
// folder, downloaded on first use. Local files never touch the network.
struct ModelFiles {
  std::string diffusion;          // a guided-diffusion checkpoint (--model)
  std::string diffusion_config;   // JSON with guided-diffusion's model_config keys (--model-config)
  std::string secondary;          // secondary_model_imagenet_2.pth (--secondary)
  std::vector<std::string> clip;  // CLIP TorchScript files; replace the models the settings select (--clip)
  std::string vocab;              // bpe_simple_vocab_16e6.txt.gz (--vocab)
  std::string lpips_vgg;          // vgg16-397923af.pth, for the init loss (--lpips-vgg)
  std::string lpips_lin;          // LPIPS v0.1 vgg.pth lin layers (--lpips-lin)
  std::string midas;              // 3D: the midas_depth_model's file, e.g. dpt_large-midas-2f21e586.pt (--midas)
  std::string adabins;            // 3D with midas_weight < 1: AdaBins_nyu.pt (--adabins)
  std::string models_dir;         // the manager's cache folder; empty: default_models_dir()
};

struct RunOptions {
  std::string out_dir;             // empty: "images_out/<batch_name>"
  // The folder that relative init_image and image-prompt paths are read from (a job's upload
  // folder, a settings file's folder); empty: the current folder, as DD.
  std::string input_dir;
  // The longest an http(s) init image or image prompt may take to download, in seconds (DD's
  // fetch() waits forever).
  long url_timeout_s = 120;
  std::string device = "auto";     // "auto" (cuda:0 when available, else cpu) | "cpu" | "cuda" | "cuda:N"
  // "auto" (mixed on CUDA as DD, fp32 on CPU) | "fp32" | "mixed" | "fast" (mixed, plus the secondary
  // model in half precision and ResNet CLIPs' BatchNorms folded: beyond DD, see set_fast)
  std::string precision = "auto";
  // GPU memory: at most this many GiB (0: the card's memory); the run picks how many cuts each
  // CLIP pass takes to fit, or stops before sampling when nothing fits.
  double max_vram_gib = 0;
  int64_t cuts_per_pass = 0;       // fixed cuts per CLIP pass (0: planned from the memory budget)
  // cuDNN's autotuner: measured to cost a first step of 15-100 s at DD's defaults on an H200 (it
  // times every algorithm of every new shape), for no gain after it; off unless asked for.
  bool cudnn_benchmark = false;
  // The UNet torso in NHWC layout (experimental speed option, see docs/performance.md).
  bool channels_last = false;
  // With the secondary model on CUDA: the sampler's UNet forward on a second stream, beside the
  // guidance, where the memory budget holds both (experimental, see docs/performance.md).
  bool overlap_sampler = false;
  // Other forms of the same computation, for comparisons (disco bench, docs/performance.md): the
  // images differ from the defaults' only by float rounding.
  bool fused_attention = true;          // the UNet's attention in fused kernels where the libtorch has them
  bool per_crop_cutouts = false;        // the inner cuts resized box by box (the reference's form)
  std::string augment_blocks = "auto";  // the cutn batches' augmentations: "together", "one-by-one" or
                                        // "auto" (together on CUDA, one by one on the CPU)
  ModelFiles models;
};

// Loaded networks and tokenizer, reusable across runs with the same model choices.
struct LoadedModels;

// Loads everything `settings` needs (diffusion model, secondary model when use_secondary_model,
// the CLIP models, the vocabulary, LPIPS when an init image or Perlin init meets init_scale != 0
// or animation frames meet frames_scale != 0, and the depth models in 3D mode).
std::shared_ptr<LoadedModels> load_models(const Settings& settings, const RunOptions& options,
                                          const Callbacks& callbacks = {});
// Which of those models `settings` needs. With the same RunOptions, a load_models result made for
// settings whose needs cover another's can run those too: the same diffusion and CLIP models,
// and at least the optional ones (secondary model, LPIPS, the depth models) it needs.
struct ModelNeeds {
  std::string base;                 // the diffusion model and the CLIP models, which must be equal
  std::set<std::string> optional;   // "secondary", "lpips", "midas:<name>", "adabins"
  bool covers(const ModelNeeds& other) const;
};
ModelNeeds model_needs(const Settings& settings);

struct RunResult {
  std::string folder;                // the output folder
  int run_number = 0;                // DD's batchNum: files are <batch_name>(<run_number>)_...
  uint32_t seed = 0;                 // the run seed (recorded in the settings)
  std::vector<std::string> images;   // final images, in batch order
  std::vector<std::string> gifs;     // with gif on: each image's progress GIF, in the same order
  std::string settings_file;         // <batch_name>(<run_number>)_settings.txt
  std::string summary;               // the one-line run summary
  double load_seconds = 0, sample_seconds = 0;
  int64_t steps_done = 0;            // sampler steps over all images
};

// Runs `settings`: n_batches images into the output folder. Every input (settings, prompts,
// images, model files) is checked before anything is written, so a bad input leaves the output
// folder untouched; every file is written atomically. `models` (optional) must come from
// load_models with the same model choices.
RunResult run(const Settings& settings, const RunOptions& options, const Callbacks& callbacks = {},
              std::shared_ptr<LoadedModels> models = nullptr);

// The folder a run writes to: options.out_dir, else images_out/<batch_name>.
std::string output_folder(const Settings& settings, const RunOptions& options);
// The newest run of `batch_name` in `folder`, as DD finds the run to resume: the count of its
// <batch_name>(N)_settings.txt files - 1 (-1: none).
int latest_run_number(const std::string& folder, const std::string& batch_name);

// The settings embedded in a PNG this library wrote (the "disco-settings" text chunk), merged
// onto `base`. `batch_index` (optional) receives the image's index in its run (-1 if unknown),
// `frame` an animation frame's number (-1 for a still image).
Settings settings_from_image(const std::string& png_path, const Settings& base = Settings{},
                             std::vector<std::string>* notes = nullptr, int* batch_index = nullptr,
                             int* frame = nullptr);

// PNG text chunk names used for the final images.
inline constexpr const char* kSettingsChunk = "disco-settings";    // to_json(settings), compact
inline constexpr const char* kImageChunk = "disco-image";          // {"batch_index": k}, and "frame": f
inline constexpr const char* kParametersChunk = "parameters";      // A1111-style summary

}  // namespace disco
