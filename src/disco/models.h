// The model manager: every file Disco Diffusion uses (dd-spec §13, models-spec §6), where it is
// cached, and how it is fetched and checked.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "io/download.h"

namespace disco {

struct ModelEntry {
  std::string name;       // what users type: "512x512_diffusion_uncond_finetune_008100", "ViT-B/32"
  std::string kind;       // "diffusion" | "secondary" | "clip" | "openclip" | "lpips" | "depth" | "vocabulary"
  std::string file_name;  // name in the cache folder
  std::string sha256;     // full hex digest; empty when no publisher states one
  std::string sha256_prefix;  // e.g. torchvision's 8-hex file-name suffix, when only that is known
  std::vector<std::string> urls;  // mirrors, in priority order
};

// Every model disco-cpp knows, in a stable order.
const std::vector<ModelEntry>& model_registry();
// Looks a model up by name or file name; nullptr if unknown.
const ModelEntry* find_model(const std::string& name);
// Same, throwing SettingsError listing the known names.
const ModelEntry& model_entry(const std::string& name);

// $DISCO_MODELS, else $XDG_CACHE_HOME/disco-cpp, else ~/.cache/disco-cpp.
std::string default_models_dir();

enum class ModelState { Missing, Ok, Corrupt, Unchecked };
struct ModelCheck {
  ModelState state = ModelState::Missing;
  std::string path;
  std::string sha256;  // computed digest (empty when missing)
};
// Hashes the cached file (if any) and compares it with the registry.
ModelCheck verify_model(const ModelEntry& entry, const std::string& models_dir);

struct FetchOptions {
  io::DownloadOptions download;
  std::function<void(const std::string& line)> on_log;  // one line per mirror tried, etc.
};

// Returns the path of the verified file in models_dir, downloading it first (trying each mirror in
// turn, resuming partial downloads) when it is missing. A file whose checksum does not match is
// moved aside to "<file>.corrupt" and the next mirror is tried. Throws io::DownloadError naming every
// mirror's failure when none worked.
std::string ensure_model(const ModelEntry& entry, const std::string& models_dir,
                         const FetchOptions& options = {});

}  // namespace disco
