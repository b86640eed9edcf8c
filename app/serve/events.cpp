#include "events.h"

namespace disco::serve {

void EventHub::publish(int64_t job, const std::string& type, const nlohmann::json& data) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& q = events_[job];
    q.push_back({++seq_, type, data.dump()});
    // Progress is the bulk: dropping old events keeps memory bounded whatever the job's length.
    while (q.size() > kKeptPerJob) q.pop_front();
    while (events_.size() > kJobsKept) events_.erase(events_.begin());
  }
  cv_.notify_all();
}

uint64_t EventHub::last_seq() {
  std::lock_guard<std::mutex> lock(mu_);
  return seq_;
}

std::vector<Event> EventHub::wait(int64_t job, uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  std::vector<Event> out;
  const auto collect = [&] {
    if (stopping_) return true;
    const auto it = events_.find(job);
    if (it != events_.end())
      for (const auto& e : it->second)
        if (e.seq > after) out.push_back(e);
    return !out.empty();
  };
  cv_.wait_for(lock, timeout, collect);
  return out;
}

void EventHub::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

bool EventHub::stopping() {
  std::lock_guard<std::mutex> lock(mu_);
  return stopping_;
}

}  // namespace disco::serve
