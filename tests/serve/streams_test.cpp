// Event streams cannot starve the API: each open stream holds one server thread, so the server
// refuses streams beyond --max-event-streams with 503, and API calls are still answered at once
// while the allowed streams are open. A slot is given back when its stream ends.
#include <gtest/gtest.h>

#include <atomic>
#include <functional>

#include "serve_process.h"

namespace disco::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kStreams = 4;

// Threads that each follow `job`'s event stream until it ends.
struct Followers {
  Followers(int port, int64_t job, int n) {
    const std::string path = "/api/jobs/" + std::to_string(job) + "/events";
    for (int i = 0; i < n; ++i)
      threads.emplace_back([this, port, path] {
        Api a(port);
        std::string all;
        a.http.Get(path.c_str(), [&](const char* data, size_t size) {
          if (all.empty()) ++connected;  // the stream's first event, its job's state, came
          all.append(data, size);
          return true;
        });
        ended_cancelled += all.find("\"state\":\"cancelled\"") != std::string::npos;
      });
  }
  // Waits until every stream is open; false after `seconds`.
  bool wait_connected(int seconds) {
    for (int i = 0; i < seconds * 40 && connected < int(threads.size()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    return connected == int(threads.size());
  }
  void join() {
    for (auto& t : threads) t.join();
    threads.clear();
  }
  ~Followers() { join(); }
  std::vector<std::thread> threads;
  std::atomic<int> connected{0}, ended_cancelled{0};
};

double seconds_for(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

TEST(ServeStreams, LimitedAndNeverStarveTheApi) {
  const auto dir = serve_scratch("streams");
  ServeProcess server(dir, {"--max-event-streams", std::to_string(kStreams)});
  ASSERT_GT(server.port(), 0) << server.output();
  Api a(server.port());
  // A long job keeps the worker busy, so that the followed job stays queued and its streams open.
  const int64_t busy = a.submit({{"n_batches", 400}});
  const int64_t followed = a.submit({{"n_batches", 1}});
  ASSERT_GT(followed, 0);
  const std::string events = "/api/jobs/" + std::to_string(followed) + "/events";
  Followers followers(server.port(), followed, kStreams);
  // No ASSERT until the job is cancelled below: that is what ends the followers' streams.
  EXPECT_TRUE(followers.wait_connected(30)) << followers.connected << " streams open";
  Api probe(server.port());
  probe.http.set_read_timeout(5, 0);  // an opened stream would not end: time out instead
  const auto refused = probe.get(events);
  EXPECT_EQ(refused.first, 503) << refused.second;
  EXPECT_NE(refused.second.find("too many event streams"), std::string::npos) << refused.second;

  // With every stream slot taken, many API calls at once are all answered, and quickly.
  std::atomic<int> answered{0};
  const double took = seconds_for([&] {
    std::vector<std::thread> callers;
    for (int i = 0; i < 16; ++i)
      callers.emplace_back([&] {
        Api c(server.port());
        answered += c.get("/api/jobs").first == 200 && c.get("/api/jobs/" + std::to_string(followed)).first == 200;
      });
    for (auto& t : callers) t.join();
  });
  EXPECT_EQ(answered, 16);
  EXPECT_LT(took, 10.0);

  // Cancelling the job ends its streams with its final state, and their slots are free again.
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(followed) + "/cancel", "").first, 200);
  followers.join();
  EXPECT_EQ(followers.ended_cancelled, kStreams);
  const auto after = a.events(followed);
  ASSERT_FALSE(after.empty());
  EXPECT_EQ(after.front().at("data").at("state"), "cancelled");
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(busy) + "/cancel", "").first, 202);
  server.stop(SIGTERM);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace disco::test
