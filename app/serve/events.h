// Live progress for server-sent events: each job's recent events (progress, preview, log, image,
// state) in memory, numbered, so that a client that connects late or reconnects with
// Last-Event-ID gets what it missed, and waiting clients wake when a new one arrives.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace disco::serve {

struct Event {
  uint64_t seq = 0;   // increasing over all jobs: the SSE id
  std::string type;   // "state", "progress", "preview", "log", "image"
  std::string data;   // JSON
};

class EventHub {
 public:
  void publish(int64_t job, const std::string& type, const nlohmann::json& data);
  // The newest sequence number handed out so far.
  uint64_t last_seq();
  // The job's events after `after`, waiting up to `timeout` for one when there are none yet.
  // Empty on timeout or after shutdown().
  std::vector<Event> wait(int64_t job, uint64_t after, std::chrono::milliseconds timeout);
  // Wakes every waiting client for good (the server is stopping).
  void shutdown();
  bool stopping();

 private:
  static constexpr size_t kKeptPerJob = 256;  // enough for a late client to see the last image's steps
  static constexpr size_t kJobsKept = 512;    // the event logs of older jobs are dropped
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int64_t, std::deque<Event>> events_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
};

}  // namespace disco::serve
