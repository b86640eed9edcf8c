// Pieces of the run shared by run.cpp, run_models.cpp and run_outputs.cpp (not part of the API).
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "clip/clip_model.h"
#include "clip/tokenizer.h"
#include "diffusion/samplers.h"
#include "diffusion/secondary_model.h"
#include "diffusion/unet.h"
#include "depth/depth_estimator.h"
#include "disco/run.h"
#include "guidance/cond_fn.h"
#include "guidance/lpips.h"
#include "io/image.h"

namespace disco {

struct MemoryEstimate;

struct LoadedModels {
  torch::Device device{torch::kCPU};
  bool mixed = false;                 // DD's GPU precision split (fp16 UNet torso and CLIP weights)
  bool fast = false;                  // mixed, and beyond DD: secondary model in fp16, BatchNorms folded
  std::string diffusion_name;         // a preset name, or "custom"
  std::string diffusion_path;
  diffusion::UNetConfig unet_config;
  diffusion::UNetModel unet{nullptr};
  diffusion::SecondaryDiffusionImageNet2 secondary{nullptr};
  std::vector<std::pair<std::string, clip::CLIP>> clip;  // label (name or file), model; DD's order
  std::shared_ptr<clip::CLIPTokenizer> tokenizer;
  guidance::LPIPS lpips{nullptr};
  std::shared_ptr<depth::DepthEstimator> depth;  // 3D mode: DD's MiDaS/AdaBins depth
  // A tight GPU budget (--max-vram): the depth models are parked, and the UNet and secondary model
  // leave the device while depth is estimated.
  bool take_turns_with_depth = false;
};

namespace run_detail {

void log(const Callbacks& cb, const std::string& line);

// "auto" | "cpu" | "cuda" | "cuda:N" -> a usable device (SettingsError / RuntimeError otherwise).
torch::Device resolve_device(const std::string& device);
// "auto" | "fp32" | "mixed" | "fast" -> mixed? ("fast" is mixed and more, see set_fast)
bool resolve_mixed(const std::string& precision, const torch::Device& device);
// `--precision fast` on loaded models (on for mixed models only, off restores DD's split): the
// secondary model in the mixed dtype rather than DD's float32, and each ResNet CLIP's BatchNorms
// folded into its convolutions. Faster and smaller; the difference from DD is measured by
// `disco bench --compare` (docs/performance.md).
void set_fast(LoadedModels& m, bool fast);

// Phase 1: the vocabulary (cheap), so prompts can be checked before the big files are read.
std::shared_ptr<clip::CLIPTokenizer> load_tokenizer(const RunOptions& options, const Callbacks& cb);
// Phase 2: the networks. May set settings.diffusion_model / custom_path to what the file is.
void load_networks(LoadedModels& m, Settings& settings, const RunOptions& options, const Callbacks& cb);
bool needs_lpips(const Settings& s);

// DD's cut schedules as cond_fn reads them (the first 1000 entries, whole counts), and the rest
// of cond_fn's settings; cuts_per_pass as in guidance::CondFnSettings.
guidance::CutSchedules cut_schedules(const Settings& s);
guidance::CondFnSettings cond_fn_settings(const Settings& s, int64_t cuts_per_pass, bool cutouts_across_models = false);
// How the run's cutouts are computed (RunOptions::per_crop_cutouts, augment_blocks); SettingsError
// on an unknown augment_blocks.
guidance::CutoutsExecution cutouts_execution(const RunOptions& o);

// While it lives, the CLIP text encoders wait on the CPU (CUDA runs only): the prompts are encoded
// before sampling, and the weights are worth 0.4 GiB of GPU memory for DD's three models.
class ParkedTextEncoders {
 public:
  explicit ParkedTextEncoders(LoadedModels& m);
  ~ParkedTextEncoders();
  ParkedTextEncoders(const ParkedTextEncoders&) = delete;
  ParkedTextEncoders& operator=(const ParkedTextEncoders&) = delete;

 private:
  LoadedModels& m_;
};

// For a tight GPU budget (the memory plan decides): the CLIP image encoders are idle while the
// sampler's UNet forward runs, so their tensors wait in pinned host memory then (0.4 GiB for DD's
// three models) and are copied back, asynchronously, before cond_fn needs them. A ResNet's folded
// BatchNorm weights travel with them. The memory plan uses it on CUDA only. The host copies are
// taken once: the models' precision and folding must not change while it lives.
class ImageEncoderParking {
 public:
  explicit ImageEncoderParking(const LoadedModels& m);  // makes the pinned host copies
  ~ImageEncoderParking() { restore(); }
  ImageEncoderParking(const ImageEncoderParking&) = delete;
  ImageEncoderParking& operator=(const ImageEncoderParking&) = delete;
  void park();
  void restore();
  // Device bytes that park() frees.
  static int64_t parkable_bytes(const LoadedModels& m);

 private:
  struct Slot {
    torch::Tensor tensor, host;
  };
  std::vector<Slot> slots_;
  bool parked_ = false;
};

// `network` with the image encoders parked around each call: the sampler's UNet forward.
diffusion::NetworkFn with_parking(diffusion::NetworkFn network, ImageEncoderParking* parking);

// cuts_per_pass for a run: o.cuts_per_pass when set, else the most that fit o.max_vram_gib (else
// the card's memory; on the CPU all cuts). Logs the pre-flight estimate; throws RuntimeError,
// saying what to lower, when nothing fits. `planned` (optional) receives the estimate, with the
// memory levers chosen: the models are left as the options set them, and the caller applies the
// plan (apply_execution(m, execution_for(s, o, planned))).
int64_t plan_memory(const Settings& s, LoadedModels& m, const RunOptions& o, const Callbacks& cb,
                    MemoryEstimate* planned = nullptr);

// Eval mode, no parameter gradients, on `device`.
void freeze(torch::nn::Module& m, const torch::Device& device);
// The reduced-precision dtype of the mixed mode: fp16 on CUDA as DD, bfloat16 on the CPU.
torch::ScalarType mixed_dtype(const torch::Device& device);

// The image of an init or image prompt, checked up front: a PNG, JPEG or WebP file, relative to
// options.input_dir when that is set, or an http(s) URL fetched within options.url_timeout_s.
io::Image8 read_input_image(const std::string& path, const std::string& setting, const RunOptions& options);

// Output folder and DD's file names (dd-spec §12). intermediate_name at the last step is the
// final image's name where intermediates go to partials/ (DD writes the final image there too).
int next_run_number(const std::string& folder, const std::string& batch_name);
// `frame`: the animation frame (its number names the final image in the animation modes).
std::string final_name(const Settings& s, int run, int batch, int j, int total_steps, int frame = 0);
std::string intermediate_name(const Settings& s, int run, int batch, int j, int total_steps, int frame = 0);
// The image's progress GIF (gif on): "<name>(<run>)_<i>-progress.gif", or "..._<frame:04>-progress.gif"
// for an animation frame, beside the final image (discoart: "<batch>-progress-<i>.gif").
std::string gif_name(const Settings& s, int run, int batch, int frame = 0);
// DD's intermediate-step test for loop step j (0-based).
bool is_intermediate_step(const Settings& s, int j);

void write_text_atomic(const std::string& path, const std::string& text);
// A1111-style "parameters" text.
std::string a1111_parameters(const Settings& s, const LoadedModels& m);
io::PngText final_png_text(const Settings& s, const LoadedModels& m, int batch_index, int frame = 0);

}  // namespace run_detail
}  // namespace disco
