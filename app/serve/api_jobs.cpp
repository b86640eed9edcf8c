// The job routes: submit, validate, list, get, cancel, move, the event stream and the preview.
#include <fstream>
#include <sstream>

#include "api_internal.h"
#include "disco/settings_table.h"

namespace disco::serve {
namespace {

int64_t job_id_of(const httplib::Request& req) { return std::stoll(req.matches[1].str()); }

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool is_final(const std::string& state) { return state == "done" || state == "failed" || state == "cancelled"; }

// One of the limited event streams, counted in `open` while it lives.
class StreamSlot {
 public:
  // A slot, or null when `max` streams are open already.
  static std::shared_ptr<StreamSlot> take(std::atomic<int>& open, int max) {
    if (open.fetch_add(1) >= max) {
      open.fetch_sub(1);
      return nullptr;
    }
    return std::shared_ptr<StreamSlot>(new StreamSlot(open));
  }
  ~StreamSlot() { open_.fetch_sub(1); }
  StreamSlot(const StreamSlot&) = delete;
  StreamSlot& operator=(const StreamSlot&) = delete;

 private:
  explicit StreamSlot(std::atomic<int>& open) : open_(open) {}
  std::atomic<int>& open_;
};

std::string sse_message(const Event& e) { return "id: " + std::to_string(e.seq) + "\nevent: " + e.type + "\ndata: " + e.data + "\n\n"; }

}  // namespace

nlohmann::json Server::Impl::job_json(const Job& job) {
  nlohmann::json images = nlohmann::json::array();
  for (const auto& im : job.images)
    images.push_back({{"id", im.id}, {"index", im.index}, {"url", "/api/images/" + im.id}});
  nlohmann::json video = nullptr;
  if (job.video) video = {{"id", job.video->id}, {"frames", job.video->frames}, {"url", "/api/videos/" + job.video->id}};
  return {{"id", job.id},           {"state", job_state_name(job.state)}, {"error", job.error},
          {"total", job.total},     {"done", job.images.size()},          {"runs", job.runs},
          {"created", job.created}, {"settings", job.settings},           {"images", images},
          {"video", video}};
}

// The {"settings": {...}} body of submit and validate as the job's settings; throws BadRequest.
Settings Server::Impl::settings_of(const std::string& body) {
  if (body.size() > config.limits.max_json_bytes) throw BadRequest{"the request body is over the limit of " + std::to_string(config.limits.max_json_bytes) + " bytes.", "", 413};
  const auto j = parse_request_json(body, config.limits.max_json_depth);
  if (!j.is_object() || !j.contains("settings")) throw BadRequest{"the body must be {\"settings\": {...}}.", ""};
  return job_settings(config.base, j["settings"], [this](const std::string& id) {
    return store.upload_path(id).has_value();
  }, config.run.models.diffusion);
}

void Server::Impl::add_job_routes() {
  http.Get("/api/settings", [this](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, {{"settings", settings_table_json(config.base)}});
  });
  http.Post("/api/validate", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      const Settings s = settings_of(req.body);
      reply_json(res, 200, {{"ok", true}, {"total", job_total(s)}});
    } catch (const BadRequest& e) {
      reply_error(res, e.status, e.message, e.key);
    }
  });
  http.Post("/api/jobs", [this](const httplib::Request& req, httplib::Response& res) {
    Settings s;
    try {
      s = settings_of(req.body);
    } catch (const BadRequest& e) {
      return reply_error(res, e.status, e.message, e.key);
    }
    const auto id = store.add(to_json(s), job_total(s), config.limits.max_queued);
    if (!id) return reply_error(res, 429, "the queue is full (" + std::to_string(config.limits.max_queued) + " jobs wait)");
    worker.wake();
    reply_json(res, 201, {{"id", *id}, {"url", "/api/jobs/" + std::to_string(*id)}});
  });
  http.Get("/api/jobs", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json jobs = nlohmann::json::array();
    for (const auto& j : store.list()) jobs.push_back(job_json(j));
    reply_json(res, 200, {{"jobs", jobs}});
  });
  http.Get("/api/jobs/(\\d{1,18})", [this](const httplib::Request& req, httplib::Response& res) {
    const auto job = store.get(job_id_of(req));
    if (!job) return reply_error(res, 404, "no such job");
    reply_json(res, 200, job_json(*job));
  });
}

// Cancel, move and the running job's preview.
void Server::Impl::add_queue_routes() {
  http.Post("/api/jobs/(\\d{1,18})/cancel", [this](const httplib::Request& req, httplib::Response& res) {
    const int64_t id = job_id_of(req);
    if (worker.cancel(id)) return reply_json(res, 202, {{"state", "cancelling"}});
    if (store.finish(id, JobState::Cancelled, "cancelled")) {
      hub.publish(id, "state", {{"state", "cancelled"}, {"error", "cancelled"}});
      return reply_json(res, 200, {{"state", "cancelled"}});
    }
    if (!store.get(id)) return reply_error(res, 404, "no such job");
    reply_error(res, 409, "the job has already ended");
  });
  http.Post("/api/jobs/(\\d{1,18})/move", [this](const httplib::Request& req, httplib::Response& res) {
    nlohmann::json j;
    try {
      j = parse_request_json(req.body, config.limits.max_json_depth);
    } catch (const BadRequest& e) {
      return reply_error(res, 400, e.message);
    }
    if (!j.is_object() || !j.contains("position") || !j["position"].is_number_integer())
      return reply_error(res, 400, "the body must be {\"position\": N} (0: the head of the queue)");
    const int64_t id = job_id_of(req);
    if (store.move(id, int(std::clamp<int64_t>(j["position"].get<int64_t>(), 0, 1 << 30)))) return reply_json(res, 200, {{"ok", true}});
    if (!store.get(id)) return reply_error(res, 404, "no such job");
    reply_error(res, 409, "only a queued job can move");
  });
  http.Get("/api/jobs/(\\d{1,18})/preview", [this](const httplib::Request& req, httplib::Response& res) {
    const std::string path = worker.preview_path(job_id_of(req));
    const std::string png = path.empty() ? std::string() : file_bytes(path);
    if (png.empty()) return reply_error(res, 404, "no preview (the job is not running, or has no preview yet)");
    res.set_content(png, "image/png");
    res.set_header("Cache-Control", "no-store");
  });
}

// GET /api/jobs/ID/events: the job's state now, then its events as they come, until it ends.
void Server::Impl::add_event_route() {
  http.Get("/api/jobs/(\\d{1,18})/events", [this](const httplib::Request& req, httplib::Response& res) {
    const int64_t id = job_id_of(req);
    struct Stream {
      uint64_t after = 0;
      bool started = false, ended = false;
    };
    auto st = std::make_shared<Stream>();
    // A reconnecting EventSource says what it saw last; a new client starts from now.
    const std::string last = req.get_header_value("Last-Event-ID");
    st->after = last.empty() ? hub.last_seq() : std::strtoull(last.c_str(), nullptr, 10);
    if (!store.get(id)) return reply_error(res, 404, "no such job");
    auto slot = StreamSlot::take(open_streams, config.limits.max_event_streams);
    if (!slot) {
      res.set_header("Retry-After", "5");
      return reply_error(res, 503, "too many event streams are open (" + std::to_string(config.limits.max_event_streams) +
                                       "): close one, or poll GET /api/jobs/ID instead");
    }
    res.set_header("Cache-Control", "no-store");
    // The provider holds the slot: it is given back when the response, and so the provider, ends.
    res.set_chunked_content_provider("text/event-stream", [this, id, st, slot](size_t, httplib::DataSink& sink) {
      if (st->ended || hub.stopping()) return false;
      std::string out;
      if (!st->started) {
        st->started = true;
        const auto job = store.get(id);
        if (!job) return false;
        const std::string state = job_state_name(job->state);
        out = sse_message({st->after, "state", job_json(*job).dump()});
        st->ended = is_final(state);
      } else {
        const auto events = hub.wait(id, st->after, std::chrono::seconds(15));
        // A comment line now and then: a client that went away is found by the failed write.
        if (events.empty()) out = ": keep-alive\n\n";
        for (const auto& e : events) {
          out += sse_message(e);
          st->after = e.seq;
          if (e.type == "state" && is_final(nlohmann::json::parse(e.data).value("state", ""))) st->ended = true;
        }
      }
      if (!sink.write(out.data(), out.size())) return false;
      if (st->ended) sink.done();
      return true;
    });
  });
}

}  // namespace disco::serve
