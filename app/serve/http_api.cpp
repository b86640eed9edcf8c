#include "http_api.h"

#include <algorithm>
#include <filesystem>

#include "api_internal.h"
#include "assets.h"
#include "disco/models.h"

namespace disco::serve {
namespace fs = std::filesystem;

namespace {

// Compares without stopping at the first difference, so the answer's timing does not tell a
// guesser how much of the token was right.
bool same_secret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// cpp-httplib serves a connection on one pool thread from its first request to its close, and
// an event stream holds that thread for as long as it is open. A connection that finds every
// thread busy waits in the pool's queue, unanswered, until its client gives up. The pool has a
// thread for each event stream allowed (the event route refuses more) and these for the rest:
// API calls, the page, and idle keep-alive connections (each waits up to kKeepAliveSeconds).
constexpr int kApiThreads = 16;
constexpr time_t kKeepAliveSeconds = 5;

std::string prepared_data_dir(const std::string& dir) {
  fs::create_directories(fs::path(dir) / "jobs");
  fs::create_directories(fs::path(dir) / "uploads");
  return dir;
}

}  // namespace

void reply_json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void reply_error(httplib::Response& res, int status, const std::string& message, const std::string& key) {
  nlohmann::json body = {{"error", message}};
  if (!key.empty()) body["key"] = key;
  reply_json(res, status, body);
}

bool is_loopback_host(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

Server::Impl::Impl(ServeConfig c)
    : config(std::move(c)),
      store((fs::path(prepared_data_dir(config.data_dir)) / "jobs.db").string()),
      worker(store, hub, config.run, config.data_dir, config.video),
      models_dir(config.run.models.models_dir.empty() ? default_models_dir() : config.run.models.models_dir) {
  store.requeue_interrupted();
}

bool Server::Impl::authorised(const httplib::Request& req) const {
  if (config.token.empty()) return true;
  const std::string header = req.get_header_value("Authorization");
  if (header.rfind("Bearer ", 0) == 0 && same_secret(header.substr(7), config.token)) return true;
  // EventSource and <img> cannot send headers: the page passes the token as a parameter there.
  return req.has_param("token") && same_secret(req.get_param_value("token"), config.token);
}

void Server::Impl::add_page_routes() {
  const auto page = [](const std::string& path, httplib::Response& res) {
    const Asset* a = find_asset(path);
    if (!a) return reply_error(res, 404, "not found");
    res.set_content(reinterpret_cast<const char*>(a->data), a->size, a->content_type);
    res.set_header("Cache-Control", "no-cache");
  };
  http.Get("/", [page](const httplib::Request&, httplib::Response& res) { page("/index.html", res); });
  http.Get("/([a-z_]+\\.(js|css|html|svg))",
           [page](const httplib::Request& req, httplib::Response& res) { page("/" + req.matches[1].str(), res); });
}

void Server::Impl::add_routes() {
  const size_t threads = size_t(std::max(0, config.limits.max_event_streams) + kApiThreads);
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_keep_alive_timeout(kKeepAliveSeconds);
  http.set_payload_max_length(config.limits.max_upload_bytes);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (req.path.rfind("/api/", 0) != 0 || authorised(req)) return httplib::Server::HandlerResponse::Unhandled;
    reply_error(res, 401, "this server needs its token: 'Authorization: Bearer TOKEN' or ?token=TOKEN");
    return httplib::Server::HandlerResponse::Handled;
  });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    reply_error(res, res.status, res.status == 413 ? "the request is too large" : "not found");
  });
  http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      reply_error(res, 500, e.what());
    } catch (...) {
      reply_error(res, 500, "internal error");
    }
  });
  http.Get("/api/health", [](const httplib::Request&, httplib::Response& res) {
    reply_json(res, 200, {{"ok", true}});
  });
  add_page_routes();
  add_job_routes();
  add_queue_routes();
  add_event_route();
  add_file_routes();
  add_model_routes();
}

Server::Server(ServeConfig config) : impl_(std::make_unique<Impl>(std::move(config))) { impl_->add_routes(); }

Server::~Server() { stop(); }

bool Server::bind() {
  auto& i = *impl_;
  // Debian's cpp-httplib is compiled with a listen backlog of 5: clients connecting at once
  // overflow it, and the kernel drops their SYNs, retried only after 1, 3, 7... s, past a client's
  // connect timeout. The hook sees each socket tried; the last one is the one bound, and it is
  // given the system's backlog (listen() again on a listening socket only changes the backlog).
  i.http.set_socket_options([&i](socket_t sock) {
    httplib::default_socket_options(sock);
    i.listen_socket = sock;
  });
  if (i.config.port == 0) i.bound_port = i.http.bind_to_any_port(i.config.host);
  else if (i.http.bind_to_port(i.config.host, i.config.port)) i.bound_port = i.config.port;
  if (i.bound_port <= 0) return false;
  if (i.listen_socket != INVALID_SOCKET) ::listen(i.listen_socket, SOMAXCONN);
  i.worker.start();
  return true;
}

int Server::port() const { return impl_->bound_port; }

void Server::serve() { impl_->http.listen_after_bind(); }

void Server::stop() {
  impl_->hub.shutdown();  // event streams end, so that their threads are free to join
  impl_->http.stop();
  impl_->worker.stop();
}

}  // namespace disco::serve
