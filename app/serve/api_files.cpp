// Uploads (init images, image prompts), finished images, videos and settings files by id, and the
// model manager (list, fetch with progress, verify).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "api_internal.h"
#include "common/error.h"
#include "disco/models.h"
#include "io/image.h"

namespace disco::serve {
namespace fs = std::filesystem;

namespace {

std::string whole_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A PNG's size from its IHDR chunk, read before decoding so that a small file that claims huge
// dimensions is refused without taking their memory.
bool png_header_size(const std::string& b, int64_t& w, int64_t& h) {
  if (b.size() < 24) return false;
  const auto be32 = [&](size_t at) {
    return (int64_t(uint8_t(b[at])) << 24) | (int64_t(uint8_t(b[at + 1])) << 16) | (int64_t(uint8_t(b[at + 2])) << 8) |
           int64_t(uint8_t(b[at + 3]));
  };
  w = be32(16);
  h = be32(20);
  return true;
}

void attach_as_file(httplib::Response& res, const std::string& path) {
  // The name is the server's own file name, never one a client gave.
  res.set_header("Content-Disposition", "attachment; filename=\"" + fs::path(path).filename().string() + "\"");
}

void send_file_by_id(httplib::Response& res, const std::string& path, const char* type, bool download) {
  const std::string bytes = whole_file(path);
  if (bytes.empty()) return reply_error(res, 404, "not found");
  res.set_content(bytes, type);
  if (download) attach_as_file(res, path);
}

void send_file_in_parts(httplib::Response& res, const std::string& path, size_t size, const char* type, bool download) {
  auto in = std::make_shared<std::ifstream>(path, std::ios::binary);
  res.set_content_provider(size, type, [in](size_t offset, size_t length, httplib::DataSink& sink) {
    char buf[1 << 16];
    in->seekg(std::streamoff(offset));
    const auto n = in->read(buf, std::streamsize(std::min(length, sizeof buf))).gcount();
    return n > 0 && sink.write(buf, size_t(n));
  });
  if (download) attach_as_file(res, path);
}

// Downloads `entry` into `dir` on its own thread, recording progress in `fetches`.
void start_model_fetch(std::shared_ptr<ModelFetches> fetches, ModelEntry entry, std::string dir) {
  std::thread([fetches, entry, dir] {
    const auto set = [&](const std::function<void(ModelFetches::Progress&)>& f) {
      std::lock_guard<std::mutex> lock(fetches->mu);
      f(fetches->by_name[entry.name]);
    };
    FetchOptions o;
    o.download.on_progress = [&](int64_t r, int64_t t) { set([&](auto& p) { p.received = r; p.total = t; }); };
    try {
      ensure_model(entry, dir, o);
      set([](auto& p) { p.state = "done"; });
    } catch (const std::exception& e) {
      const std::string why = e.what();
      set([&](auto& p) { p.state = "failed"; p.error = why; });
    }
    std::lock_guard<std::mutex> lock(fetches->mu);
    fetches->busy = false;
  }).detach();  // a download has no cancel; the thread holds all it uses
}

}  // namespace

void Server::Impl::add_file_routes() {
  http.Post("/api/uploads", [this](const httplib::Request& req, httplib::Response& res) {
    const auto* data = reinterpret_cast<const uint8_t*>(req.body.data());
    const io::ImageFormat format = io::detect_image_format(data, req.body.size());
    if (format != io::ImageFormat::Png && format != io::ImageFormat::Jpeg)
      return reply_error(res, 415, "uploads must be PNG or JPEG images");
    int64_t w = 0, h = 0;
    if (format == io::ImageFormat::Png && png_header_size(req.body, w, h) && w * h > config.limits.max_upload_pixels)
      return reply_error(res, 413, "the image has more than " + std::to_string(config.limits.max_upload_pixels) + " pixels");
    io::Image8 image;
    try {
      image = io::decode_image(std::vector<uint8_t>(req.body.begin(), req.body.end()), "the upload");
    } catch (const std::exception& e) {
      return reply_error(res, 400, e.what());
    }
    if (int64_t(image.width) * image.height > config.limits.max_upload_pixels)
      return reply_error(res, 413, "the image has more than " + std::to_string(config.limits.max_upload_pixels) + " pixels");
    const std::string id = random_id() + (format == io::ImageFormat::Png ? ".png" : ".jpg");
    const std::string path = (fs::path(config.data_dir) / "uploads" / id).string();
    std::ofstream(path, std::ios::binary).write(req.body.data(), std::streamsize(req.body.size()));
    store.add_upload(id, path);
    reply_json(res, 201, {{"id", id}, {"width", image.width}, {"height", image.height}});
  });
  http.Get("/api/uploads/([0-9a-f]{16}\\.(png|jpg))", [this](const httplib::Request& req, httplib::Response& res) {
    const auto path = store.upload_path(req.matches[1].str());
    if (!path) return reply_error(res, 404, "not found");
    send_file_by_id(res, *path, req.matches[2].str() == "png" ? "image/png" : "image/jpeg", false);
  });
  http.Get("/api/images/([0-9a-f]{16})", [this](const httplib::Request& req, httplib::Response& res) {
    const auto image = store.image(req.matches[1].str());
    if (!image) return reply_error(res, 404, "not found");
    send_file_by_id(res, image->path, "image/png", req.has_param("download"));
  });
  // Videos may be large: read from the file as sent, and in the ranges a <video> element asks for.
  http.Get("/api/videos/([0-9a-f]{16})", [this](const httplib::Request& req, httplib::Response& res) {
    const auto video = store.video(req.matches[1].str());
    std::error_code ec;
    const auto size = video ? fs::file_size(video->path, ec) : 0;
    if (!video || ec || size == 0) return reply_error(res, 404, "not found");
    send_file_in_parts(res, video->path, size, "video/mp4", req.has_param("download"));
  });
  http.Get("/api/images/([0-9a-f]{16})/settings", [this](const httplib::Request& req, httplib::Response& res) {
    const auto image = store.image(req.matches[1].str());
    if (!image) return reply_error(res, 404, "not found");
    send_file_by_id(res, image->settings, "application/json", req.has_param("download"));
  });
}

void Server::Impl::add_model_routes() {
  http.Get("/api/models", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json models = nlohmann::json::array();
    std::lock_guard<std::mutex> lock(fetches->mu);
    for (const auto& e : model_registry()) {
      nlohmann::json m = {{"name", e.name}, {"kind", e.kind}, {"file", e.file_name},
                          {"installed", fs::exists(fs::path(models_dir) / e.file_name)}};
      const auto it = fetches->by_name.find(e.name);
      if (it != fetches->by_name.end())
        m["fetch"] = {{"state", it->second.state}, {"received", it->second.received},
                      {"total", it->second.total}, {"error", it->second.error}};
      models.push_back(std::move(m));
    }
    reply_json(res, 200, {{"models_dir", models_dir}, {"models", models}});
  });
  const auto named = [this](const httplib::Request& req, httplib::Response& res) -> const ModelEntry* {
    nlohmann::json j;
    try {
      j = parse_request_json(req.body, config.limits.max_json_depth);
    } catch (const BadRequest& e) {
      reply_error(res, 400, e.message);
      return nullptr;
    }
    const ModelEntry* e = j.is_object() && j.contains("name") && j["name"].is_string()
                              ? find_model(j["name"].get<std::string>()) : nullptr;
    if (!e) reply_error(res, 404, "no such model (GET /api/models lists them)");
    return e;
  };
  http.Post("/api/models/fetch", [this, named](const httplib::Request& req, httplib::Response& res) {
    const ModelEntry* e = named(req, res);
    if (!e) return;
    std::lock_guard<std::mutex> lock(fetches->mu);
    if (fetches->busy) return reply_error(res, 409, "another model is being fetched");
    fetches->busy = true;
    fetches->by_name[e->name] = {"fetching", 0, -1, ""};
    start_model_fetch(fetches, *e, models_dir);
    reply_json(res, 202, {{"state", "fetching"}});
  });
  http.Post("/api/models/verify", [this, named](const httplib::Request& req, httplib::Response& res) {
    const ModelEntry* e = named(req, res);
    if (!e) return;
    const ModelCheck c = verify_model(*e, models_dir);
    const char* state = c.state == ModelState::Ok ? "ok" : c.state == ModelState::Corrupt ? "corrupt"
                        : c.state == ModelState::Unchecked ? "unchecked" : "missing";
    reply_json(res, 200, {{"name", e->name}, {"state", state}, {"sha256", c.sha256}});
  });
}

}  // namespace disco::serve
