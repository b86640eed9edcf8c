// The run's files, named as DD names them (dd-spec §12), and what the final PNG embeds.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "animation/warp_3d.h"
#include "common/error.h"
#include "disco/run_phases.h"
#include "io/download.h"
#include "io/gif.h"
#include "io/image.h"
#include "io/pil_resize.h"
#include "io/video.h"

namespace disco::run_detail {
namespace fs = std::filesystem;

io::Image8 read_input_image(const std::string& path, const std::string& setting, const RunOptions& options) {
  // DD's Image.open(fetch(path)).convert('RGB'): fetch() downloads http(s) URLs into memory.
  if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0) {
    io::FetchOptions fetch;
    fetch.timeout_s = options.url_timeout_s;
    fetch.connect_timeout_s = std::min(fetch.connect_timeout_s, options.url_timeout_s);
    return io::decode_image(io::fetch_to_memory(path, fetch), path);
  }
  const std::string& input_dir = options.input_dir;
  const fs::path file = input_dir.empty() || fs::path(path).is_absolute() ? fs::path(path) : fs::path(input_dir) / path;
  DISCO_CHECK(fs::exists(file), CheckpointError, setting, " '", file.string(), "' does not exist; check the path.");
  return io::read_image(file.string());
}

// DD: the count of *.txt files in the batch folder, then incremented while
// "<name>(<n>)_settings.txt" or "<name>-<n>_settings.txt" exists.
int next_run_number(const std::string& folder, const std::string& batch_name) {
  int n = 0;
  std::error_code ec;
  if (fs::is_directory(folder, ec))
    for (const auto& e : fs::directory_iterator(folder, ec))
      if (e.path().extension() == ".txt") ++n;
  const auto taken = [&](int k) {
    return fs::exists(fs::path(folder) / (batch_name + "(" + std::to_string(k) + ")_settings.txt")) ||
           fs::exists(fs::path(folder) / (batch_name + "-" + std::to_string(k) + "_settings.txt"));
  };
  while (taken(n)) ++n;
  return n;
}

namespace {

std::string prefix(const Settings& s, int run) { return s.batch_name + "(" + std::to_string(run) + ")_"; }

std::string padded(int v, int width) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*d", width, v);
  return buf;
}

}  // namespace

bool is_intermediate_step(const Settings& s, int j) {
  if (s.intermediate_saves.steps) {
    for (int k : *s.intermediate_saves.steps)
      if (k == j) return true;
    return false;
  }
  const auto every = s.steps_per_checkpoint();
  return every && *every > 0 && j % *every == 0 && j > 0;
}

// "{name}({run})_{i:04}-{percent:02}%.png", or "..._{i:04}-{j:03}.png" in list mode. At the last
// step with intermediates in partials/, DD names the step's file as the final image.
std::string intermediate_name(const Settings& s, int run, int batch, int j, int total_steps, int frame) {
  if (j == total_steps && s.intermediates_in_subfolder) return final_name(s, run, batch, j, total_steps, frame);
  if (s.intermediate_saves.steps) return prefix(s, run) + padded(batch, 4) + "-" + padded(j, 3) + ".png";
  // DD: ceil(j / total_steps * 100), which divides by zero for a one-step run; 100 here.
  const int percent = total_steps > 0 ? static_cast<int>(std::ceil(static_cast<double>(j) / total_steps * 100)) : 100;
  return prefix(s, run) + padded(batch, 4) + "-" + padded(percent, 2) + "%.png";
}

// "{name}({run})_{i}.png" (i not zero-padded, as DD in 'None' mode), or "{name}({run})_{frame:04}.png"
// for an animation frame; with intermediates not in a subfolder DD gives the final image the
// intermediate-style name (QUIRK(dd-spec §12): every frame then has the same name).
std::string final_name(const Settings& s, int run, int batch, int j, int total_steps, int frame) {
  if (!s.intermediates_in_subfolder) return intermediate_name(s, run, batch, j, total_steps, frame);
  if (s.animation_mode != AnimationMode::None) return io::frame_file_name(s.batch_name, run, frame);
  return prefix(s, run) + std::to_string(batch) + ".png";
}

std::string gif_name(const Settings& s, int run, int batch, int frame) {
  const bool frames = s.animation_mode != AnimationMode::None;
  return prefix(s, run) + (frames ? padded(frame, 4) : std::to_string(batch)) + "-progress.gif";
}

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw RuntimeError(detail::concat("cannot write '", path, "'; check that the folder is writable and the disk is not full."));
    }
  }
  std::error_code ec;
  fs::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw RuntimeError(detail::concat("cannot write '", path, "': ", ec.message(), "."));
  }
}

std::string a1111_parameters(const Settings& s, const LoadedModels& m) {
  std::string positive, negative;
  for (const auto& p : s.text_prompts.at(0)) {
    std::string& dst = p.weight < 0 ? negative : positive;
    dst += (dst.empty() ? "" : ", ") + p.original;
  }
  std::string clips;
  for (const auto& c : m.clip) clips += (clips.empty() ? "" : ", ") + c.first;
  std::ostringstream os;
  os << positive << "\n";
  if (!negative.empty()) os << "Negative prompt: " << negative << "\n";
  os << "Steps: " << s.steps << ", Sampler: " << (s.diffusion_sampling_mode == SamplingMode::Plms ? "PLMS" : "DDIM");
  if (s.diffusion_sampling_mode != SamplingMode::Plms) os << ", Eta: " << s.eta;
  os << ", CLIP guidance scale: " << s.clip_guidance_scale << ", Seed: " << (s.seed ? *s.seed : 0)
     << ", Size: " << s.side_x() << "x" << s.side_y() << ", Skip steps: " << s.skip_steps
     << ", Model: " << m.diffusion_name << ", CLIP models: \"" << clips << "\""
     << ", Secondary model: " << (s.use_secondary_model ? "on" : "off") << ", Version: disco-cpp";
  return os.str();
}

io::PngText final_png_text(const Settings& s, const LoadedModels& m, int batch_index, int frame) {
  io::PngText text;
  text[kSettingsChunk] = to_json(s).dump();
  nlohmann::json image{{"batch_index", batch_index}};
  if (s.animation_mode != AnimationMode::None) image["frame"] = frame;
  text[kImageChunk] = image.dump();
  text[kParametersChunk] = a1111_parameters(s, m);
  return text;
}

namespace {
void ensure_folder(const std::string& f) {
  std::error_code ec;
  fs::create_directories(f, ec);
  DISCO_CHECK(!ec, RuntimeError, "cannot create the output folder '", f, "': ", ec.message(), ".");
}
}  // namespace

RunOutputs::RunOutputs(const Settings& s, const LoadedModels& m, const RunOptions& o, RunResult& result)
    : s_(s), m_(m), result_(result), folder_(output_folder(s, o)) {
  partial_folder_ = (fs::path(folder_) / "partials").string();
  progress_path_ = (fs::path(folder_) / "progress.png").string();
  partials_ = s.intermediates_in_subfolder &&
              (s.intermediate_saves.steps ? !s.intermediate_saves.steps->empty() : s.intermediate_saves.count != 0);
  result_.folder = folder_;
  result_.run_number = next_run_number(folder_, s.batch_name);
}

void RunOutputs::continue_run(int run_number, io::Image8 previous) {
  result_.run_number = run_number;
  result_.settings_file = (fs::path(folder_) / (s_.batch_name + "(" + std::to_string(run_number) + ")_settings.txt")).string();
  last_image_ = std::move(previous);
}

void RunOutputs::write_step(int index, int j, int total_steps, const torch::Tensor& pred_xstart, const Callbacks& cb) {
  const bool frames = s_.animation_mode != AnimationMode::None;
  const int batch = frames ? 0 : index, frame = frames ? index : 0;  // DD: one batch per frame
  const bool last = j == total_steps;
  const bool intermediate = is_intermediate_step(s_, j);
  const bool display = j % s_.display_rate == 0 || last;
  if (!display && !intermediate) return;
  const io::Image8 image = io::from_tensor(pred_xstart.to(torch::kCPU));  // QUIRK(dd-spec §15.2)
  const int run = result_.run_number;
  ensure_folder(folder_);
  if (display) {
    io::write_png(progress_path_, image);
    if (cb.on_preview) cb.on_preview(progress_path_, j);
    if (s_.gif) add_gif_frame(index, batch, frame, last, image);
  }
  if (intermediate) {
    const std::string dir = partials_ ? partial_folder_ : folder_;
    ensure_folder(dir);
    const std::string path = (fs::path(dir) / intermediate_name(s_, run, batch, j, total_steps, frame)).string();
    io::write_png(path, image);
    if (cb.on_preview) cb.on_preview(path, j);
  }
  if (!last) return;
  if (result_.settings_file.empty()) {  // DD writes the settings with the first finished image of the run
    result_.settings_file = (fs::path(folder_) / (s_.batch_name + "(" + std::to_string(run) + ")_settings.txt")).string();
    write_text_atomic(result_.settings_file, to_settings_text(s_));
  }
  const std::string path = (fs::path(folder_) / final_name(s_, run, batch, j, total_steps, frame)).string();
  last_made_ = image;
  if (blend_with_)  // DD's 3D turbo: the file is the blend, prevFrame.png the image as made
    write_final(path, batch, frame, animation::add_weighted(image, blend_weight_, *blend_with_, 1 - blend_weight_));
  else
    write_final(path, batch, frame, image);
  blend_with_.reset();
}

void RunOutputs::write_final(const std::string& path, int batch, int frame, const io::Image8& image) {
  io::write_png(path, image, final_png_text(s_, m_, batch, frame));
  result_.images.push_back(path);
  last_image_ = image;
}

void RunOutputs::blend_next_final(std::optional<io::Image8> with, double weight) {
  blend_with_ = std::move(with);
  blend_weight_ = weight;
}

void RunOutputs::write_frame(int frame, const io::Image8& image) {
  ensure_folder(folder_);
  write_final((fs::path(folder_) / io::frame_file_name(s_.batch_name, result_.run_number, frame)).string(), 0, frame,
              image);
}

void RunOutputs::write_eye_views(int frame, const io::Image8& left, const io::Image8& right) {
  char name[32];
  for (const auto& [eye, image] : {std::pair{'l', &left}, std::pair{'r', &right}}) {
    std::snprintf(name, sizeof name, "frame_%04d_%c.png", frame, eye);
    io::write_png((fs::path(folder_) / name).string(), *image);
  }
}

// discoart's save_gif(duration=1000 // gif_fps, size_ratio=gif_size_ratio): each progress image,
// scaled (Lanczos, as the init image is), one frame.
void RunOutputs::add_gif_frame(int index, int batch, int frame, bool last, const io::Image8& image) {
  const int w = std::max(1, static_cast<int>(image.width * s_.gif_size_ratio));
  const int h = std::max(1, static_cast<int>(image.height * s_.gif_size_ratio));
  if (!gif_ || gif_index_ != index) {  // the image's first progress image (an earlier one's GIF is dropped)
    const std::string path = (fs::path(folder_) / gif_name(s_, result_.run_number, batch, frame)).string();
    gif_ = std::make_unique<io::GifWriter>(path, w, h, io::gif_delay_centiseconds(s_.gif_fps));
    gif_index_ = index;
  }
  gif_->add_frame(w == image.width && h == image.height ? image.rgb : io::resize_lanczos(image, w, h).rgb);
  if (!last) return;
  gif_->finish();
  result_.gifs.push_back(gif_->path());
  gif_.reset();
}

}  // namespace disco::run_detail

namespace disco {

std::string output_folder(const Settings& s, const RunOptions& o) {
  return o.out_dir.empty() ? (std::filesystem::path("images_out") / s.batch_name).string() : o.out_dir;
}

Settings settings_from_image(const std::string& png_path, const Settings& base, std::vector<std::string>* notes,
                             int* batch_index, int* frame) {
  DISCO_CHECK(std::filesystem::exists(png_path), CheckpointError, "image '", png_path,
              "' does not exist; --from needs a PNG written by disco.");
  const io::PngText text = io::read_png_text(png_path);
  const auto it = text.find(kSettingsChunk);
  DISCO_CHECK(it != text.end(), SettingsError, "image '", png_path, "' has no '", kSettingsChunk,
              "' text chunk: it was not written by disco-cpp, or its metadata was stripped.");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    throw SettingsError(detail::concat("image '", png_path, "': the '", kSettingsChunk, "' chunk is not valid JSON (",
                                       e.what(), ")."));
  }
  const auto im = text.find(kImageChunk);
  const auto info = im == text.end() ? nlohmann::json() : nlohmann::json::parse(im->second, nullptr, false);
  const auto number = [&](const char* key) {
    return info.is_object() && info.contains(key) && info[key].is_number_integer() ? info[key].get<int>() : -1;
  };
  if (batch_index) *batch_index = number("batch_index");
  if (frame) *frame = number("frame");
  return merge_settings(base, j, "image '" + png_path + "'", notes);
}

}  // namespace disco
