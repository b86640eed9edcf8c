// The server's parts, shared by the route files (api_jobs.cpp, api_files.cpp, http_api.cpp).
#pragma once
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "events.h"
#include "http_api.h"
#include "job_settings.h"
#include "job_store.h"
#include "job_worker.h"

namespace disco::serve {

// Model downloads started from the page: each model's progress, shared with the download thread
// (which may outlive a request, so it holds the state by shared_ptr).
struct ModelFetches {
  struct Progress {
    std::string state;  // "fetching", "done", "failed"
    int64_t received = 0, total = -1;
    std::string error;
  };
  std::mutex mu;
  std::map<std::string, Progress> by_name;
  bool busy = false;  // one download at a time
};

struct Server::Impl {
  explicit Impl(ServeConfig c);
  void add_routes();
  void add_job_routes();
  void add_queue_routes();
  void add_event_route();
  void add_file_routes();
  void add_model_routes();
  void add_page_routes();
  bool authorised(const httplib::Request& req) const;
  nlohmann::json job_json(const Job& job);
  Settings settings_of(const std::string& body);

  ServeConfig config;
  JobStore store;
  EventHub hub;
  JobWorker worker;
  httplib::Server http;
  std::shared_ptr<ModelFetches> fetches = std::make_shared<ModelFetches>();
  std::string models_dir;
  int bound_port = 0;
  socket_t listen_socket = INVALID_SOCKET;  // set by bind(), to raise cpp-httplib's backlog
  std::atomic<int> open_streams{0};  // event streams now open (at most limits.max_event_streams)
};

// Answers with a JSON body.
void reply_json(httplib::Response& res, int status, const nlohmann::json& body);
// Answers {"error": message, "key": setting} with `status`.
void reply_error(httplib::Response& res, int status, const std::string& message, const std::string& key = "");

}  // namespace disco::serve
