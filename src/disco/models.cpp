#include "disco/models.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "clip/open_clip.h"
#include "common/error.h"
#include "io/sha256.h"

namespace disco {
namespace fs = std::filesystem;

namespace {

const char* kClipBase = "https://openaipublic.azureedge.net/clip/models/";

ModelEntry clip_entry(const std::string& name, const std::string& sha, const std::string& file) {
  return {name, "clip", file, sha, "", {kClipBase + sha + "/" + file}};
}

std::vector<ModelEntry> make_registry() {
  std::vector<ModelEntry> r;
  // Diffusion models and the secondary model: DD's own table (dd-spec §13).
  r.push_back({"512x512_diffusion_uncond_finetune_008100", "diffusion",
               "512x512_diffusion_uncond_finetune_008100.pt",
               "9c111ab89e214862b76e1fa6a1b3f1d329b1a88281885943d2cdbe357ad57648", "",
               {"https://huggingface.co/lowlevelware/512x512_diffusion_unconditional_ImageNet/resolve/main/512x512_diffusion_uncond_finetune_008100.pt",
                "https://the-eye.eu/public/AI/models/512x512_diffusion_unconditional_ImageNet/512x512_diffusion_uncond_finetune_008100.pt"}});
  r.push_back({"256x256_diffusion_uncond", "diffusion", "256x256_diffusion_uncond.pt",
               "a37c32fffd316cd494cf3f35b339936debdc1576dad13fe57c42399a5dbc78b1", "",
               {"https://openaipublic.blob.core.windows.net/diffusion/jul-2021/256x256_diffusion_uncond.pt",
                "https://www.dropbox.com/s/9tqnqo930mpnpcn/256x256_diffusion_uncond.pt"}});
  r.push_back({"portrait_generator_v001", "diffusion", "portrait_generator_v001_ema_0.9999_1MM.pt",
               "b7e8c747af880d4480b6707006f1ace000b058dd0eac5bb13558ba3752d9b5b9", "",
               {"https://huggingface.co/felipe3dartist/portrait_generator_v001/resolve/main/portrait_generator_v001_ema_0.9999_1MM.pt"}});
  r.push_back({"pixelartdiffusion_expanded", "diffusion", "PADexpanded.pt",
               "a73b40556634034bf43b5a716b531b46fb1ab890634d854f5bcbbef56838739a", "",
               {"https://huggingface.co/KaliYuga/PADexpanded/resolve/main/PADexpanded.pt"}});
  r.push_back({"pixel_art_diffusion_hard_256", "diffusion", "pixel_art_diffusion_hard_256.pt",
               "be4a9de943ec06eef32c65a1008c60ad017723a4d35dc13169c66bb322234161", "",
               {"https://huggingface.co/KaliYuga/pixel_art_diffusion_hard_256/resolve/main/pixel_art_diffusion_hard_256.pt"}});
  r.push_back({"pixel_art_diffusion_soft_256", "diffusion", "pixel_art_diffusion_soft_256.pt",
               "d321590e46b679bf6def1f1914b47c89e762c76f19ab3e3392c8ca07c791039c", "",
               {"https://huggingface.co/KaliYuga/pixel_art_diffusion_soft_256/resolve/main/pixel_art_diffusion_soft_256.pt"}});
  r.push_back({"pixelartdiffusion4k", "diffusion", "pixelartdiffusion4k.pt",
               "a1ba4f13f6dabb72b1064f15d8ae504d98d6192ad343572cc416deda7cccac30", "",
               {"https://huggingface.co/KaliYuga/pixelartdiffusion4k/resolve/main/pixelartdiffusion4k.pt"}});
  r.push_back({"watercolordiffusion_2", "diffusion", "watercolordiffusion_2.pt",
               "49c281b6092c61c49b0f1f8da93af9b94be7e0c20c71e662e2aa26fee0e4b1a9", "",
               {"https://huggingface.co/KaliYuga/watercolordiffusion_2/resolve/main/watercolordiffusion_2.pt"}});
  r.push_back({"watercolordiffusion", "diffusion", "watercolordiffusion.pt",
               "a3e6522f0c8f278f90788298d66383b11ac763dd5e0d62f8252c962c23950bd6", "",
               {"https://huggingface.co/KaliYuga/watercolordiffusion/resolve/main/watercolordiffusion.pt"}});
  r.push_back({"PulpSciFiDiffusion", "diffusion", "PulpSciFiDiffusion.pt",
               "b79e62613b9f50b8a3173e5f61f0320c7dbb16efad42a92ec94d014f6e17337f", "",
               {"https://huggingface.co/KaliYuga/PulpSciFiDiffusion/resolve/main/PulpSciFiDiffusion.pt"}});
  r.push_back({"secondary_model_imagenet_2", "secondary", "secondary_model_imagenet_2.pth",
               "983e3de6f95c88c81b2ca7ebb2c217933be1973b1ff058776b970f901584613a", "",
               {"https://huggingface.co/spaces/huggi/secondary_model_imagenet_2.pth/resolve/main/secondary_model_imagenet_2.pth",
                "https://the-eye.eu/public/AI/models/v-diffusion/secondary_model_imagenet_2.pth",
                "https://ipfs.pollinations.ai/ipfs/bafybeibaawhhk7fhyhvmm7x24zwwkeuocuizbqbcg5nqx64jq42j75rdiy/secondary_model_imagenet_2.pth"}});
  // OpenAI CLIP: the path segment before the file name is the file's sha256 (clip.py checks it).
  r.push_back(clip_entry("RN50", "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762", "RN50.pt"));
  r.push_back(clip_entry("RN101", "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599", "RN101.pt"));
  r.push_back(clip_entry("RN50x4", "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd", "RN50x4.pt"));
  r.push_back(clip_entry("RN50x16", "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa", "RN50x16.pt"));
  r.push_back(clip_entry("RN50x64", "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c", "RN50x64.pt"));
  r.push_back(clip_entry("ViT-B/32", "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af", "ViT-B-32.pt"));
  r.push_back(clip_entry("ViT-B/16", "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f", "ViT-B-16.pt"));
  r.push_back(clip_entry("ViT-L/14", "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836", "ViT-L-14.pt"));
  r.push_back(clip_entry("ViT-L/14@336px", "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", "ViT-L-14-336px.pt"));
  // OpenCLIP (open_clip's registry, the v0.2-weights release): only the first 8 hex digits of each
  // file's sha256 are published (in its name), and open_clip itself checks no more. Two names
  // share each laion400m / yfcc15m / cc12m file (the plain one and the "-quickgelu" one).
  for (const auto& m : clip::open_clip_models())
    r.push_back({m.name(), "openclip", m.file, "", m.sha256_prefix, {m.url()}});
  // LPIPS (init loss): torchvision's VGG16 (only its 8-hex name suffix is published) and the lin
  // layers shipped in the lpips repository (no published digest).
  r.push_back({"vgg16", "lpips", "vgg16-397923af.pth", "", "397923af",
               {"https://download.pytorch.org/models/vgg16-397923af.pth"}});
  r.push_back({"lpips_vgg_lin", "lpips", "lpips_vgg_v0.1.pth", "", "",
               {"https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth"}});
  // 3D mode's depth models, under DD's midas_depth_model names. MiDaS' file names end in the first
  // 8 hex digits of their sha256 (torch.hub's convention); AdaBins publishes no digest.
  const std::string dpt = "https://github.com/intel-isl/DPT/releases/download/1_0/";
  const std::string midas = "https://github.com/isl-org/MiDaS/releases/download/v2_1/";
  r.push_back({"dpt_large", "depth", "dpt_large-midas-2f21e586.pt", "", "2f21e586", {dpt + "dpt_large-midas-2f21e586.pt"}});
  r.push_back({"dpt_hybrid", "depth", "dpt_hybrid-midas-501f0c75.pt", "", "501f0c75",
               {dpt + "dpt_hybrid-midas-501f0c75.pt"}});
  r.push_back({"dpt_hybrid_nyu", "depth", "dpt_hybrid_nyu-2ce69ec7.pt", "", "2ce69ec7",
               {dpt + "dpt_hybrid_nyu-2ce69ec7.pt"}});
  r.push_back({"midas_v21", "depth", "midas_v21-f6b98070.pt", "", "f6b98070", {midas + "midas_v21-f6b98070.pt"}});
  r.push_back({"midas_v21_small", "depth", "midas_v21_small-70d6b9c8.pt", "", "70d6b9c8",
               {midas + "midas_v21_small-70d6b9c8.pt"}});
  r.push_back({"AdaBins_nyu", "depth", "AdaBins_nyu.pt", "", "",
               {"https://cloudflare-ipfs.com/ipfs/Qmd2mMnDLWePKmgfS8m6ntAg4nhV5VkUyAydYBp8cWWeB7/AdaBins_nyu.pt"}});
  r.push_back({"bpe_simple_vocab_16e6", "vocabulary", "bpe_simple_vocab_16e6.txt.gz",
               "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a", "",
               {"https://github.com/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz"}});
  return r;
}

bool digest_matches(const ModelEntry& e, const std::string& digest) {
  if (!e.sha256.empty()) return digest == e.sha256;
  if (!e.sha256_prefix.empty()) return digest.rfind(e.sha256_prefix, 0) == 0;
  return true;
}

// Hashing a 2 GB checkpoint takes seconds: remember the digest next to the file, keyed by its
// size and modification time, so later runs only hash a file that changed.
std::string cached_sha256(const std::string& path) {
  const std::string sidecar = path + ".sha256";
  auto size = fs::file_size(path);
  auto mtime = fs::last_write_time(path).time_since_epoch().count();
  {
    std::ifstream in(sidecar);
    std::string digest;
    uintmax_t s = 0;
    long long t = 0;
    if (in >> digest >> s >> t && s == size && t == static_cast<long long>(mtime)) return digest;
  }
  std::string digest = io::sha256_file(path);
  std::ofstream(sidecar) << digest << " " << size << " " << static_cast<long long>(mtime) << "\n";
  return digest;
}

void log_fetch(const FetchOptions& o, const std::string& line) {
  if (o.on_log) o.on_log(line);
}

}  // namespace

const std::vector<ModelEntry>& model_registry() {
  static const std::vector<ModelEntry> r = make_registry();
  return r;
}

const ModelEntry* find_model(const std::string& name) {
  for (const auto& e : model_registry())
    if (e.name == name || e.file_name == name) return &e;
  return nullptr;
}

const ModelEntry& model_entry(const std::string& name) {
  if (const ModelEntry* e = find_model(name)) return *e;
  std::string known;
  for (const auto& e : model_registry()) known += (known.empty() ? "" : ", ") + e.name;
  throw SettingsError(detail::concat("unknown model '", name, "'; known models: ", known));
}

std::string default_models_dir() {
  if (const char* d = std::getenv("DISCO_MODELS"); d && *d) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/disco-cpp";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/disco-cpp";
}

ModelCheck verify_model(const ModelEntry& entry, const std::string& models_dir) {
  ModelCheck c;
  c.path = (fs::path(models_dir) / entry.file_name).string();
  if (!fs::exists(c.path)) return c;
  c.sha256 = cached_sha256(c.path);
  if (entry.sha256.empty() && entry.sha256_prefix.empty())
    c.state = ModelState::Unchecked;
  else
    c.state = digest_matches(entry, c.sha256) ? ModelState::Ok : ModelState::Corrupt;
  return c;
}

std::string ensure_model(const ModelEntry& entry, const std::string& models_dir,
                         const FetchOptions& options) {
  ModelCheck c = verify_model(entry, models_dir);
  if (c.state == ModelState::Ok || c.state == ModelState::Unchecked) return c.path;
  if (c.state == ModelState::Corrupt) {
    fs::rename(c.path, c.path + ".corrupt");
    log_fetch(options, "'" + c.path + "' does not match its published checksum; moved to '" + c.path +
                           ".corrupt', fetching it again");
  }
  std::error_code ec;
  fs::create_directories(models_dir, ec);
  DISCO_CHECK(!ec, io::DownloadError, "cannot create the models folder '", models_dir, "': ",
              ec.message(), "; set DISCO_MODELS to a writable folder");

  std::string failures;
  for (const auto& url : entry.urls) {
    log_fetch(options, "fetching " + entry.name + " from " + url);
    try {
      io::download_file(url, c.path, options.download);
    } catch (const io::DownloadError& e) {
      failures += std::string("\n  ") + e.what();
      continue;
    }
    std::string digest = cached_sha256(c.path);
    if (digest_matches(entry, digest)) return c.path;
    fs::rename(c.path, c.path + ".corrupt");
    failures += "\n  " + url + ": checksum " + digest + " does not match the published " +
                (entry.sha256.empty() ? entry.sha256_prefix + "..." : entry.sha256) +
                " (file moved to '" + c.path + ".corrupt')";
  }
  throw io::DownloadError(detail::concat("could not fetch ", entry.name, " from any mirror:", failures,
                                         "\nDownload it yourself into '", models_dir,
                                         "' as '", entry.file_name, "', or pass a local file"));
}

}  // namespace disco
