// Many clients at once on loopback: each submits tiny jobs and follows their events. Every job is
// accounted for (done, its one image), none lost or duplicated; then the server is killed in the
// middle of a queue, started again, and the queue completes. The CI size is small;
// bench/serve_load.sh runs the full one (DISCO_SERVE_LOAD_JOBS=200).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <cstdlib>
#include <set>

#include "serve_process.h"

namespace disco::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : fallback;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// What went wrong, from every client thread: each entry is one job that failed.
struct Failures {
  void add(const std::string& why) {
    std::lock_guard<std::mutex> lock(mu);
    list.push_back(why);
  }
  int count() {
    std::lock_guard<std::mutex> lock(mu);
    return int(list.size());
  }
  std::mutex mu;
  std::vector<std::string> list;
};

// `clients` threads submit `per_client` jobs each, following each job's events to its end;
// returns the ids; a job that could not be submitted or did not end done is in `failures`.
std::vector<int64_t> submit_and_follow(int port, int clients, int per_client, bool follow, Failures& failures) {
  std::vector<std::vector<int64_t>> ids(clients);
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c)
    threads.emplace_back([&, c] {
      Api a(port);
      for (int k = 0; k < per_client; ++k) {
        std::string why;
        const int64_t id = a.submit({{"steps", 2}, {"skip_steps", 0}, {"seed", c * 1000 + k}}, &why);
        if (id < 0) {
          failures.add("submit: " + why);
          continue;
        }
        ids[c].push_back(id);
        if (!follow) continue;
        std::string last = "(no state event)";
        for (const auto& e : a.events(id))
          if (e.at("type") == "state") last = e.at("data").at("state");
        if (last != "done") failures.add("job " + std::to_string(id) + " followed to " + last);
      }
    });
  for (auto& t : threads) t.join();
  std::vector<int64_t> all;
  for (const auto& v : ids) all.insert(all.end(), v.begin(), v.end());
  return all;
}

// Every job of `ids` is done with exactly one image, no image id appears twice, and at most
// `resumed` jobs were started twice (the one running at a kill), none more often.
void expect_all_done_once(Api& a, const std::vector<int64_t>& ids, int resumed) {
  std::set<int64_t> unique_jobs(ids.begin(), ids.end());
  EXPECT_EQ(unique_jobs.size(), ids.size()) << "a job id handed out twice";
  std::set<std::string> images;
  int done = 0, listed = 0, started_twice = 0;
  // Held here: a range-for over a.json(...).at("jobs") would iterate a destroyed temporary.
  const json list = a.json("/api/jobs");
  for (const auto& j : list.at("jobs")) {
    if (!unique_jobs.count(j.at("id").get<int64_t>())) continue;
    ++listed;
    done += j.at("state") == "done";
    started_twice += j.at("runs") == 2;
    EXPECT_LE(j.at("runs").get<int>(), 2) << j.dump();
    EXPECT_EQ(j.at("images").size(), 1u) << j.dump();
    for (const auto& im : j.at("images")) EXPECT_TRUE(images.insert(im.at("id").get<std::string>()).second);
  }
  EXPECT_EQ(listed, int(ids.size())) << "jobs lost";
  EXPECT_EQ(done, int(ids.size()));
  EXPECT_LE(started_twice, resumed);
}

TEST(ServeLoad, ConcurrentClientsThenKillAndRestart) {
  const int clients = env_int("DISCO_SERVE_LOAD_CLIENTS", 4);
  const int jobs = env_int("DISCO_SERVE_LOAD_JOBS", 8);
  const auto dir = serve_scratch("load");
  Failures failures;
  auto server = std::make_unique<ServeProcess>(dir, std::vector<std::string>{"--max-queue", "100000"});
  ASSERT_GT(server->port(), 0) << server->output();
  const auto t0 = std::chrono::steady_clock::now();
  const auto first = submit_and_follow(server->port(), clients, jobs / clients, /*follow=*/true, failures);
  const double followed_s = seconds_since(t0);
  Api a(server->port());
  expect_all_done_once(a, first, 0);

  // A second wave, queued without waiting, and the server killed while it runs.
  const auto t1 = std::chrono::steady_clock::now();
  const auto second = submit_and_follow(server->port(), clients, jobs / clients, /*follow=*/false, failures);
  for (int i = 0; i < 2000 && a.json("/api/jobs/" + std::to_string(second[second.size() / 3])).at("state") == "queued"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server->stop(SIGKILL), -1);
  server = std::make_unique<ServeProcess>(dir, std::vector<std::string>{"--max-queue", "100000"});
  ASSERT_GT(server->port(), 0) << server->output();
  Api b(server->port());
  for (const int64_t id : second) b.wait_final(id, 600);
  const double second_s = seconds_since(t1);
  expect_all_done_once(b, second, 1);
  for (const auto& why : failures.list) ADD_FAILURE() << why;
  std::printf("serve load: %d clients; %zu jobs followed by their events in %.1f s (%.1f jobs/s); %zu more queued, "
              "killed with SIGKILL and restarted, all done in %.1f s; failures: %d\n",
              clients, first.size(), followed_s, first.size() / followed_s, second.size(), second_s, failures.count());
  server->stop(SIGTERM);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace disco::test
