// A server killed with SIGKILL in the middle of a job, and started again on the same data: the
// job resumes from its last finished image, keeps every image it had, and makes none twice.
#include <gtest/gtest.h>

#include <set>

#include "serve_process.h"

namespace disco::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

TEST(ServeResume, KilledMidJobResumesFromItsLastImage) {
  const auto dir = serve_scratch("resume");
  constexpr int kImages = 4;
  int64_t id = 0;
  json before;
  std::map<std::string, fs::file_time_type> written;
  {
    ServeProcess server(dir);
    ASSERT_GT(server.port(), 0) << server.output();
    Api a(server.port());
    id = a.submit({{"n_batches", kImages}, {"steps", 8}, {"seed", 5}});
    ASSERT_GT(id, 0);
    for (int i = 0; i < 1200; ++i) {
      before = a.json("/api/jobs/" + std::to_string(id));
      if (before.at("images").size() >= 1) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    EXPECT_EQ(server.stop(SIGKILL), -1);
  }
  ASSERT_GE(before.at("images").size(), 1u) << before.dump();
  ASSERT_LT(before.at("images").size(), size_t(kImages)) << "the job ended before the kill: make it longer";
  for (const auto& im : before.at("images")) {
    const auto path = dir / "jobs" / std::to_string(id) / std::to_string(im.at("index").get<int>());
    for (const auto& f : fs::directory_iterator(path))
      if (f.path().extension() == ".png") written[f.path().string()] = fs::last_write_time(f.path());
  }

  ServeProcess again(dir);
  ASSERT_GT(again.port(), 0) << again.output();
  Api a(again.port());
  const json job = a.wait_final(id);
  EXPECT_EQ(job.at("state"), "done") << job.dump();
  EXPECT_EQ(job.at("runs"), 2) << "started once, resumed once";
  std::set<int> indices;
  std::set<std::string> ids;
  for (const auto& im : job.at("images")) {
    indices.insert(im.at("index").get<int>());
    ids.insert(im.at("id").get<std::string>());
  }
  EXPECT_EQ(indices.size(), size_t(kImages));
  EXPECT_EQ(job.at("images").size(), size_t(kImages)) << "no image twice";
  for (size_t i = 0; i < before.at("images").size(); ++i)
    EXPECT_EQ(job.at("images")[i].at("id"), before.at("images")[i].at("id")) << "finished images are kept as they were";
  for (const auto& [path, time] : written) EXPECT_EQ(fs::last_write_time(path), time) << path << " was made again";
  again.stop(SIGTERM);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace disco::test
