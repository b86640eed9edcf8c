// A server killed with SIGKILL in the middle of a job, and started again on the same data: the
// job resumes from its last finished image or frame, keeps every one it had, and makes none twice.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "io/image.h"
#include "io/video.h"
#include "serve_process.h"

namespace disco::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// The job as it was when the server was killed, and the PNGs then on disk with their times.
struct Killed {
  int64_t id = 0;
  json before;
  std::map<std::string, fs::file_time_type> written;
};

// Starts a server on `dir`, submits `settings` and kills the server once the job has its first
// image or frame.
Killed kill_after_first_image(const fs::path& dir, const json& settings) {
  Killed k;
  ServeProcess server(dir);
  EXPECT_GT(server.port(), 0) << server.output();
  Api a(server.port());
  k.id = a.submit(settings);
  EXPECT_GT(k.id, 0);
  for (int i = 0; i < 1200 && k.id > 0; ++i) {
    k.before = a.json("/api/jobs/" + std::to_string(k.id));
    if (k.before.at("images").size() >= 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(server.stop(SIGKILL), -1);
  // Every finished PNG, recorded or not yet: none may be made again. Previews are not finished.
  const auto outputs = dir / "jobs" / std::to_string(k.id);
  if (!fs::exists(outputs)) return k;
  for (const auto& f : fs::recursive_directory_iterator(outputs))
    if (f.path().extension() == ".png" && f.path().filename() != "progress.png")
      k.written[f.path().string()] = fs::last_write_time(f.path());
  return k;
}

// Starts the server again and checks that the job ends with `total` images, indices 0..total-1,
// each once, the ones it had unchanged and no file on disk written again. Returns the job.
json resume_and_check(const fs::path& dir, const Killed& k, int total) {
  EXPECT_GE(k.before.at("images").size(), 1u) << k.before.dump();
  EXPECT_LT(k.before.at("images").size(), size_t(total)) << "the job ended before the kill: make it longer";
  ServeProcess again(dir);
  EXPECT_GT(again.port(), 0) << again.output();
  Api a(again.port());
  const json job = a.wait_final(k.id, 240);
  EXPECT_EQ(job.at("state"), "done") << job.dump();
  EXPECT_EQ(job.at("runs"), 2) << "started once, resumed once";
  std::set<int> indices;
  for (const auto& im : job.at("images")) indices.insert(im.at("index").get<int>());
  EXPECT_EQ(indices.size(), size_t(total));
  EXPECT_EQ(*indices.begin(), 0);
  EXPECT_EQ(*indices.rbegin(), total - 1);
  EXPECT_EQ(job.at("images").size(), size_t(total)) << "no image twice";
  for (size_t i = 0; i < k.before.at("images").size(); ++i)
    EXPECT_EQ(job.at("images")[i].at("id"), k.before.at("images")[i].at("id")) << "finished images are kept as they were";
  for (const auto& [path, time] : k.written) EXPECT_EQ(fs::last_write_time(path), time) << path << " was made again";
  again.stop(SIGTERM);
  return job;
}

TEST(ServeResume, KilledMidJobResumesFromItsLastImage) {
  const auto dir = serve_scratch("resume");
  const Killed k = kill_after_first_image(dir, {{"n_batches", 4}, {"steps", 8}, {"seed", 5}});
  ASSERT_GT(k.id, 0);
  resume_and_check(dir, k, 4);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

std::vector<uint8_t> pixels_of(Api& a, const json& image) {
  const std::string png = a.get(image.at("url")).second;
  return io::decode_image({png.begin(), png.end()}, "frame " + image.at("index").dump()).rgb;
}

// An animation resumes through resume_run from the frames on disk, to the same frames as a job
// never stopped; its video, made once the last frame is, holds the frames from DD's init_frame 1.
TEST(ServeResume, KilledAnimationResumesFromItsLastFrame) {
  const auto dir = serve_scratch("resume_animation");
  constexpr int kFrames = 5;
  const json settings = {{"animation_mode", "2D"}, {"max_frames", kFrames}, {"steps", 8}, {"seed", 5}, {"zoom", "0:(1.05)"},
                        {"frames_scale", 0}};  // no init loss: the tiny models have no LPIPS
  const Killed k = kill_after_first_image(dir, settings);
  ASSERT_GT(k.id, 0);
  const json job = resume_and_check(dir, k, kFrames);
  if (io::have_video_support()) {
    ASSERT_TRUE(job.at("video").is_object()) << job.dump();
    EXPECT_EQ(job.at("video").at("frames"), kFrames - 1);
  }
  ServeProcess server(dir);
  ASSERT_GT(server.port(), 0) << server.output();
  Api a(server.port());
  const json whole = a.wait_final(a.submit(settings), 240);
  ASSERT_EQ(whole.at("images").size(), size_t(kFrames)) << whole.dump();
  for (int f = 0; f < kFrames; ++f)
    EXPECT_EQ(pixels_of(a, job.at("images")[f]), pixels_of(a, whole.at("images")[f])) << "frame " << f;
  server.stop(SIGTERM);
  if (!::testing::Test::HasFailure()) fs::remove_all(dir);
}

}  // namespace
}  // namespace disco::test
