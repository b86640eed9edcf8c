// Loading what a run needs (dd-spec §1 step 2): each file comes from a local path when given,
// else from the model manager's cache (downloaded on first use).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "common/error.h"
#include "depth/dd_depth.h"
#include "diffusion/unet_config.h"
#include "disco/models.h"
#include "disco/run_internal.h"
#include "io/weights_file.h"
#include "io/state_dict.h"

namespace disco::run_detail {
namespace dd = diffusion;

void log(const Callbacks& cb, const std::string& line) {
  if (cb.on_log) cb.on_log(line);
}

torch::Device resolve_device(const std::string& device) {
  if (device == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  std::optional<torch::Device> d;
  try {
    d = torch::Device(device);
  } catch (const c10::Error&) {
  }
  DISCO_CHECK(d && (d->is_cpu() || d->is_cuda()), SettingsError, "unknown device '", device,
              "'; use cpu, cuda or cuda:N (or auto).");
  if (d->is_cuda()) {
    DISCO_CHECK(torch::cuda::is_available(), RuntimeError, "device '", device,
                "' was asked for, but this build of libtorch sees no CUDA device; use --device cpu.");
    const int64_t index = d->has_index() ? d->index() : 0;
    DISCO_CHECK(index < static_cast<int64_t>(torch::cuda::device_count()), RuntimeError, "device '", device,
                "' does not exist: there are ", torch::cuda::device_count(), " CUDA devices.");
    return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
  }
  return *d;
}

void freeze(torch::nn::Module& m, const torch::Device& device) {
  m.to(device);
  m.eval();
  for (auto& p : m.parameters()) p.set_requires_grad(false);
}

torch::ScalarType mixed_dtype(const torch::Device& device) { return device.is_cuda() ? torch::kHalf : torch::kBFloat16; }

bool resolve_mixed(const std::string& precision, const torch::Device& device) {
  if (precision == "auto") return device.is_cuda();
  DISCO_CHECK(precision == "fp32" || precision == "mixed" || precision == "fast", SettingsError,
              "unknown precision '", precision, "'; use fp32, mixed, fast or auto.");
  return precision != "fp32";
}

void set_fast(LoadedModels& m, bool fast) {
  m.fast = fast && m.mixed;
  if (!m.secondary.is_empty()) m.secondary->set_precision(m.fast ? mixed_dtype(m.device) : torch::kFloat);
  for (auto& c : m.clip) c.second->fold_batchnorm(m.fast);
}

namespace {

std::string models_dir(const RunOptions& o) {
  return o.models.models_dir.empty() ? default_models_dir() : o.models.models_dir;
}

// A manager entry's verified file, downloaded when missing.
std::string managed_file(const std::string& name, const RunOptions& o, const Callbacks& cb) {
  const ModelEntry& entry = model_entry(name);
  FetchOptions f;
  f.on_log = cb.on_log;
  if (cb.on_download)
    f.download.on_progress = [&cb, name](int64_t received, int64_t total) { cb.on_download(name, received, total); };
  return ensure_model(entry, models_dir(o), f);
}

// An OpenCLIP model's file, which a run never downloads (`disco models fetch` does): its path
// when present and its sha256 starts with the published prefix. Checked before anything loads.
std::string open_clip_file(const std::string& name, const RunOptions& o) {
  const ModelEntry& entry = model_entry(name);
  const ModelCheck c = verify_model(entry, models_dir(o));
  DISCO_CHECK(c.state != ModelState::Missing, CheckpointError, "OpenCLIP model ", name, " needs its weights file '",
              c.path, "', which is missing; fetch it once with `disco models fetch ", name, "` (or download ",
              entry.urls.front(), " into that folder)");
  DISCO_CHECK(c.state != ModelState::Corrupt, CheckpointError, "OpenCLIP weights '", c.path, "' have sha256 ",
              c.sha256, ", which does not start with the published ", entry.sha256_prefix,
              "; fetch them again with `disco models fetch ", name, "`");
  return c.path;
}

void check_file(const std::string& path, const std::string& what) {
  DISCO_CHECK(std::filesystem::is_regular_file(path), CheckpointError, what, " '", path,
              "' does not exist (or is not a file); check the path.");
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  check_file(path, what);
  std::ifstream in(path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw SettingsError(detail::concat(what, " '", path, "' is not valid JSON: ", e.what()));
  }
}


void load_diffusion(LoadedModels& m, Settings& s, const RunOptions& o, const Callbacks& cb) {
  const auto& files = o.models;
  std::string path = files.diffusion;
  if (path.empty() && s.diffusion_model == "custom") path = s.custom_path;
  const bool local = !path.empty();
  if (local) check_file(path, "diffusion model");
  if (!local) path = managed_file(s.diffusion_model, o, cb);
  log(cb, "loading diffusion model " + path);
  const io::TensorMap sd = io::load_weights_file(path);

  if (!files.diffusion_config.empty()) {
    // DD's custom model: the head counts are not in the weights, so the config says them.
    m.unet_config = dd::UNetConfig::from_model_config(read_json_file(files.diffusion_config, "model config"));
    dd::check_state_dict(m.unet_config, sd, path);
    m.diffusion_name = "custom";
  } else if (!local) {
    m.unet_config = dd::preset(s.diffusion_model).config;
    dd::check_state_dict(m.unet_config, sd, path);
    m.diffusion_name = s.diffusion_model;
  } else {
    const auto match = dd::detect_preset(sd);
    if (!match) {
      dd::infer_from_state_dict(sd);  // throws, with the inferred architecture and a hint
      throw ModelMismatchError(detail::concat("'", path, "' is no known diffusion preset; pass --model-config FILE.json."));
    }
    const auto& same = match->same_architecture;
    const bool keep = std::find(same.begin(), same.end(), s.diffusion_model) != same.end();
    m.diffusion_name = keep ? s.diffusion_model : match->name;
    m.unet_config = match->config;
    if (!keep)
      log(cb, "note: '" + path + "' is a " + match->name + " checkpoint; diffusion_model set to it");
  }
  m.diffusion_path = path;
  m.unet = dd::UNetModel(m.unet_config);
  io::load_state_dict(*m.unet, sd, path);
  freeze(*m.unet, m.device);
  if (m.mixed) m.unet->set_precision(mixed_dtype(m.device));

  s.diffusion_model = m.diffusion_name;
  if (local && m.diffusion_name == "custom") s.custom_path = path;
}

}  // namespace

std::shared_ptr<clip::CLIPTokenizer> load_tokenizer(const RunOptions& o, const Callbacks& cb) {
  std::string path = o.models.vocab;
  if (path.empty())
    path = managed_file("bpe_simple_vocab_16e6", o, cb);
  else
    check_file(path, "vocabulary");
  return std::make_shared<clip::CLIPTokenizer>(path);
}

bool needs_lpips(const Settings& s) {
  const bool frames = s.animation_mode != AnimationMode::None && s.max_frames > 1 && s.frames_scale != 0;
  return frames || (s.init_scale != 0 && (s.init_image.has_value() || s.perlin_init));
}

namespace {

// A local file (checked) or the manager's, by name.
std::string local_or_managed(const std::string& local, const std::string& name, const char* what, const RunOptions& o,
                             const Callbacks& cb) {
  if (local.empty()) return managed_file(name, o, cb);
  check_file(local, what);
  return local;
}

// 3D mode's depth model files (dd-spec §11.4): MiDaS, and AdaBins where midas_weight < 1; none
// outside 3D mode. Checked (or fetched) before the big loads, as the OpenCLIP files are.
struct DepthFiles {
  std::string midas, adabins;
};
DepthFiles depth_files(const Settings& s, const RunOptions& o, const Callbacks& cb) {
  if (s.animation_mode != AnimationMode::ThreeD) return {};
  DepthFiles f;
  f.midas = local_or_managed(o.models.midas, s.midas_depth_model, "MiDaS weights", o, cb);
  if (s.midas_weight < 1) f.adabins = local_or_managed(o.models.adabins, "AdaBins_nyu", "AdaBins weights", o, cb);
  return f;
}

void load_depth(LoadedModels& m, const Settings& s, const DepthFiles& f, const RunOptions& o, const Callbacks& cb) {
  if (f.midas.empty()) return;
  log(cb, "loading depth models: MiDaS " + s.midas_depth_model + " from " + f.midas +
              (f.adabins.empty() ? "" : ", AdaBins from " + f.adabins));
  auto depth = depth::load_dd_depth(f.midas, f.adabins, m.device);
  // With a GPU budget the 1.7 GB of depth weights stay out of the diffusion's way (dd-spec §11.4:
  // DD keeps them on the device throughout).
  m.take_turns_with_depth = m.device.is_cuda() && o.max_vram_gib > 0;
  depth->set_parked(m.take_turns_with_depth);
  m.depth = depth;
}

}  // namespace

void load_networks(LoadedModels& m, Settings& s, const RunOptions& o, const Callbacks& cb) {
  std::map<std::string, std::string> open_clip_paths;  // name -> file, checked before the big loads
  if (o.models.clip.empty())
    for (const auto& name : s.clip_model_names())
      if (clip::find_open_clip_model(name)) open_clip_paths[name] = open_clip_file(name, o);
  const DepthFiles depth = depth_files(s, o, cb);
  load_diffusion(m, s, o, cb);

  if (s.use_secondary_model) {
    std::string path = o.models.secondary;
    if (path.empty())
      path = managed_file("secondary_model_imagenet_2", o, cb);
    else
      check_file(path, "secondary model");
    log(cb, "loading secondary model " + path);
    m.secondary = dd::SecondaryDiffusionImageNet2();
    io::load_state_dict(*m.secondary, io::load_weights_file(path), path);
    freeze(*m.secondary, m.device);  // fp32 always, as DD
  }

  const auto dtype = m.mixed ? mixed_dtype(m.device) : torch::kFloat;
  std::vector<std::pair<std::string, std::string>> clips;  // label, path
  if (!o.models.clip.empty()) {
    for (const auto& path : o.models.clip) {
      check_file(path, "CLIP model");
      clips.emplace_back(std::filesystem::path(path).filename().string(), path);
    }
  } else {
    for (const auto& name : s.clip_model_names())
      clips.emplace_back(name, open_clip_paths.count(name) ? open_clip_paths[name] : managed_file(name, o, cb));
  }
  DISCO_CHECK(!clips.empty(), SettingsError,
              "no CLIP model is selected; turn one on (e.g. --clip-models ViT-B/32) or pass --clip FILE.");
  for (const auto& [label, path] : clips) {
    log(cb, "loading CLIP " + label + " from " + path);
    if (const clip::OpenClipModel* oc = o.models.clip.empty() ? clip::find_open_clip_model(label) : nullptr)
      m.clip.emplace_back(label, clip::load_open_clip(path, *oc, m.device));  // fp32 always, as DD
    else
      m.clip.emplace_back(label, clip::load_clip(path, m.device, dtype));
  }

  if (needs_lpips(s)) {
    const std::string vgg = o.models.lpips_vgg.empty() ? managed_file("vgg16", o, cb) : o.models.lpips_vgg;
    const std::string lin = o.models.lpips_lin.empty() ? managed_file("lpips_vgg_lin", o, cb) : o.models.lpips_lin;
    check_file(vgg, "LPIPS VGG16 weights");
    check_file(lin, "LPIPS lin weights");
    log(cb, "loading LPIPS (init loss) from " + vgg + " and " + lin);
    m.lpips = guidance::load_lpips(vgg, lin, m.device);
  }
  load_depth(m, s, depth, o, cb);
}

}  // namespace disco::run_detail

namespace disco {

ModelNeeds model_needs(const Settings& s) {
  ModelNeeds n;
  n.base = s.diffusion_model + "|" + s.custom_path;
  for (const auto& name : s.clip_model_names()) n.base += "|" + name;
  if (s.use_secondary_model) n.optional.insert("secondary");
  if (run_detail::needs_lpips(s)) n.optional.insert("lpips");
  if (s.animation_mode == AnimationMode::ThreeD) {
    n.optional.insert("midas:" + s.midas_depth_model);
    if (s.midas_weight < 1) n.optional.insert("adabins");
  }
  return n;
}

bool ModelNeeds::covers(const ModelNeeds& other) const {
  return base == other.base && std::includes(optional.begin(), optional.end(), other.optional.begin(), other.optional.end());
}

std::shared_ptr<LoadedModels> load_models(const Settings& settings, const RunOptions& options,
                                          const Callbacks& callbacks) {
  auto m = std::make_shared<LoadedModels>();
  Settings s = settings;
  m->device = run_detail::resolve_device(options.device);
  m->mixed = run_detail::resolve_mixed(options.precision, m->device);
  m->tokenizer = run_detail::load_tokenizer(options, callbacks);
  run_detail::load_networks(*m, s, options, callbacks);
  run_detail::set_fast(*m, options.precision == "fast");
  return m;
}

}  // namespace disco
