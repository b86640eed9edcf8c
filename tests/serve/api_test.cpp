// `disco serve`'s JSON API against the real server on a loopback port: every endpoint, and every
// refusal the server promises (bad settings, client-named files, limits, tokens, full queue).
#include <gtest/gtest.h>

#include <future>

#include "disco/disco.h"
#include "io/image.h"
#include "serve_process.h"

namespace disco::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string png_bytes(const fs::path& dir, int w, int h) {
  io::Image8 im;
  im.width = w;
  im.height = h;
  im.rgb.assign(size_t(w) * h * 3, 128);
  const auto path = dir / "upload.png";
  io::write_png(path.string(), im);
  return read_file(path);
}

// One server for the tests that do not need their own flags.
class ServeApi : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new fs::path(serve_scratch("api"));
    const std::string fixtures = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/";
    server_ = new ServeProcess(*dir_, {"--max-queue", "3", "--max-upload-mib", "1", "--max-upload-pixels", "40000",
                                       "--models-dir", (*dir_ / "models").string(), "--midas",
                                       fixtures + "midas/tiny_dpt.pt", "--adabins", fixtures + "adabins/tiny_adabins.pt"});
  }
  static void TearDownTestSuite() {
    delete server_;
    if (!::testing::Test::HasFailure()) fs::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override { ASSERT_GT(server_->port(), 0) << server_->output(); }
  Api api() { return Api(server_->port()); }
  static fs::path* dir_;
  static ServeProcess* server_;
};
fs::path* ServeApi::dir_ = nullptr;
ServeProcess* ServeApi::server_ = nullptr;

TEST_F(ServeApi, PageAndSettingsTable) {
  Api a = api();
  const auto [status, page] = a.get("/");
  EXPECT_EQ(status, 200);
  EXPECT_NE(page.find("<title>"), std::string::npos);
  EXPECT_EQ(a.get("/app.js").first, 200);
  EXPECT_EQ(a.get("/app.css").first, 200);
  const json table = a.json("/api/settings").at("settings");
  bool found = false;
  for (const auto& e : table)
    if (e.at("key") == "steps") {
      found = true;
      EXPECT_EQ(e.at("group"), "Basic");
      EXPECT_EQ(e.at("default"), 4) << "the serve command's --set is every job's default";
      EXPECT_FALSE(e.at("help").get<std::string>().empty());
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(a.json("/api/health").at("ok"), true);
}

TEST_F(ServeApi, JobRunsWithEventsAndImages) {
  Api a = api();
  const int64_t id = a.submit({{"n_batches", 2}, {"seed", 11}});
  ASSERT_GT(id, 0);
  std::set<std::string> types;
  std::string last_state;
  for (const auto& e : a.events(id)) {
    types.insert(e.at("type"));
    if (e.at("type") == "state") last_state = e.at("data").at("state");
    if (e.at("type") != "progress") continue;
    for (const char* k : {"step", "steps", "image", "images", "frame", "it_s", "eta_s"}) {
      EXPECT_TRUE(e.at("data").contains(k)) << k;
    }
  }
  EXPECT_EQ(last_state, "done");
  for (const char* t : {"state", "progress", "preview", "log", "image"}) EXPECT_TRUE(types.count(t)) << t;
  const json job = a.json("/api/jobs/" + std::to_string(id));
  ASSERT_EQ(job.at("images").size(), 2u);
  EXPECT_EQ(job.at("settings").at("seed"), 11);
  const std::string image_id = job.at("images")[1].at("id");
  const auto [status, png] = a.get("/api/images/" + image_id);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(png.substr(1, 3), "PNG");
  // Image k of a job is a one-image run seeded seed + k: its settings file makes it again alone.
  const json settings = json::parse(a.get("/api/images/" + image_id + "/settings").second);
  EXPECT_EQ(settings.at("seed"), 12);
  EXPECT_EQ(settings.at("n_batches"), 1);
  // "make again": the image's settings file, as it is, is a job that makes the same image.
  std::string why;
  const int64_t again = a.submit(settings, &why);
  ASSERT_GT(again, 0) << why;
  const json remade = a.wait_final(again);
  ASSERT_EQ(remade.at("images").size(), 1u);
  const std::string png2 = a.get(remade.at("images")[0].at("url")).second;
  EXPECT_EQ(io::decode_image({png2.begin(), png2.end()}, "remade").rgb, io::decode_image({png.begin(), png.end()}, "first").rgb);
  auto r = a.http.Get(("/api/images/" + image_id + "?download=1").c_str());
  ASSERT_TRUE(r);
  EXPECT_NE(r->get_header_value("Content-Disposition").find("attachment"), std::string::npos);
}

// An animation's frames are each an image of the job, and once the last one is made they are
// joined into an mp4 (where the build has FFmpeg), served by id in the ranges a <video> asks for.
TEST_F(ServeApi, AnimationFramesAndVideo) {
  Api a = api();
  std::string why;
  const int64_t id = a.submit({{"animation_mode", "2D"}, {"max_frames", 3}, {"seed", 3}, {"angle", "0:(2)"}, {"frames_scale", 0}}, &why);
  ASSERT_GT(id, 0) << why;
  std::set<std::string> types;
  for (const auto& e : a.events(id)) types.insert(e.at("type"));
  const json job = a.json("/api/jobs/" + std::to_string(id));
  ASSERT_EQ(job.at("state"), "done") << job.dump();
  ASSERT_EQ(job.at("images").size(), 3u);
  for (int f = 0; f < 3; ++f) EXPECT_EQ(job.at("images")[f].at("index"), f);
  if (!io::have_video_support()) {
    EXPECT_TRUE(job.at("video").is_null());
    GTEST_SKIP() << "built without FFmpeg: the frames are checked, the video is not made";
  }
  EXPECT_TRUE(types.count("video"));
  ASSERT_TRUE(job.at("video").is_object()) << job.dump();
  EXPECT_EQ(job.at("video").at("frames"), 2) << "DD's video starts at frame 1";
  const std::string url = job.at("video").at("url");
  auto whole = a.http.Get(url.c_str());
  ASSERT_TRUE(whole);
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->get_header_value("Content-Type"), "video/mp4");
  ASSERT_GT(whole->body.size(), 100u);
  EXPECT_EQ(whole->body.substr(4, 4), "ftyp");
  auto part = a.http.Get(url.c_str(), {{"Range", "bytes=10-99"}});
  ASSERT_TRUE(part);
  EXPECT_EQ(part->status, 206);
  EXPECT_EQ(part->body, whole->body.substr(10, 90));
  auto download = a.http.Get((url + "?download=1").c_str());
  ASSERT_TRUE(download);
  EXPECT_NE(download->get_header_value("Content-Disposition").find(".mp4"), std::string::npos);
  EXPECT_EQ(a.get("/api/videos/0123456789abcdef").first, 404);
  EXPECT_EQ(a.get("/api/videos/..%2Fjobs.db").first, 404);
}

// A 3D job after still and 2D ones: the worker loads the depth models it needs (model_needs)
// rather than reuse models without them, and keeps them for the still job after it.
TEST_F(ServeApi, ThreeDJobAfterOtherJobs) {
  Api a = api();
  const auto log_of = [&](int64_t job) {  // followed from before the job starts
    std::string log;
    Api own = api();
    for (const auto& e : own.events(job))
      if (e.at("type") == "log") log += e.at("data").at("line").get<std::string>() + "\n";
    return log;
  };
  std::string why;
  const int64_t still = a.submit({{"seed", 1}}, &why);
  ASSERT_GT(still, 0) << why;
  const int64_t id = a.submit({{"animation_mode", "3D"}, {"max_frames", 2}, {"frames_scale", 0},
                               {"translation_z", "0:(20)"}, {"seed", 4}}, &why);
  ASSERT_GT(id, 0) << why;
  const int64_t after = a.submit({{"seed", 2}}, &why);
  ASSERT_GT(after, 0) << why;
  auto after_log = std::async(std::launch::async, log_of, after);
  const std::string log = log_of(id);
  EXPECT_EQ(a.wait_final(still).at("state"), "done");
  const json job = a.json("/api/jobs/" + std::to_string(id));
  EXPECT_EQ(job.at("state"), "done") << job.dump();
  EXPECT_EQ(job.at("images").size(), 2u);
  EXPECT_NE(log.find("loading depth models"), std::string::npos) << log;
  EXPECT_NE(log.find("depth estimate and 3D warp"), std::string::npos) << log;
  // The models loaded for the 3D job cover the still job's after it: nothing is loaded again.
  const std::string still_log = after_log.get();
  EXPECT_NE(still_log.find("image 1/1"), std::string::npos) << still_log;
  EXPECT_EQ(still_log.find("loading"), std::string::npos) << still_log;
  EXPECT_EQ(a.json("/api/jobs/" + std::to_string(after)).at("state"), "done");
}

TEST_F(ServeApi, BadSettingsGetTheCliMessage) {
  Api a = api();
  std::string cli_message;
  try {
    merge_settings(Settings{}, json{{"steps", -3}}, "settings");
  } catch (const SettingsError& e) {
    cli_message = e.what();
  }
  ASSERT_FALSE(cli_message.empty());
  auto [status, body] = a.post("/api/jobs", json{{"settings", {{"steps", -3}}}}.dump());
  EXPECT_EQ(status, 400);
  EXPECT_EQ(json::parse(body).at("error"), cli_message);
  EXPECT_EQ(json::parse(body).at("key"), "steps");
  std::tie(status, body) = a.post("/api/validate", json{{"settings", {{"steps", -3}}}}.dump());
  EXPECT_EQ(status, 400);
  EXPECT_EQ(a.post("/api/validate", json{{"settings", {{"steps", 5}}}}.dump()).first, 200);
  const std::vector<std::pair<json, std::string>> refused = {
      {{{"no_such_setting", 1}}, ""},
      {{{"resume_run", true}}, "resume_run"},
      {{{"batch_name", "../escape"}}, "batch_name"},
      {{{"custom_path", "/etc/passwd"}}, "custom_path"},
      {{{"init_image", "/etc/passwd"}}, "init_image"},
      {{{"init_image", "http://example.com/a.png"}}, "init_image"},
      {{{"image_prompts", {{"0", {"0123456789abcdef.png:1"}}}}}, "image_prompts"},
  };
  for (const auto& [settings, key] : refused) {
    std::tie(status, body) = a.post("/api/jobs", json{{"settings", settings}}.dump());
    EXPECT_EQ(status, 400) << settings.dump();
    if (!key.empty()) {
      EXPECT_EQ(json::parse(body).value("key", ""), key) << body;
    }
  }
  EXPECT_EQ(a.post("/api/jobs", "{not json").first, 400);
  EXPECT_EQ(a.post("/api/jobs", "{\"steps\": 3}").first, 400) << "settings go under \"settings\"";
  EXPECT_EQ(a.post("/api/jobs", std::string(100, '[') + std::string(100, ']')).first, 400) << "JSON depth";
  EXPECT_EQ(a.post("/api/jobs", "{\"settings\": {\"batch_name\": \"" + std::string(1100000, 'a') + "\"}}").first, 413);
}

TEST_F(ServeApi, UploadsAreCheckedAndUsedById) {
  Api a = api();
  auto [status, body] = a.post("/api/uploads", png_bytes(*dir_, 32, 16), "image/png");
  ASSERT_EQ(status, 201) << body;
  const std::string id = json::parse(body).at("id");
  EXPECT_EQ(json::parse(body).at("width"), 32);
  EXPECT_EQ(a.get("/api/uploads/" + id).first, 200);
  EXPECT_EQ(a.post("/api/validate", json{{"settings", {{"init_image", id}}}}.dump()).first, 200);
  EXPECT_EQ(a.post("/api/validate", json{{"settings", {{"image_prompts", {{"0", {id + ":2"}}}}}}}.dump()).first, 200);
  EXPECT_EQ(a.post("/api/uploads", "GIF89a not an image we take", "image/gif").first, 415);
  EXPECT_EQ(a.post("/api/uploads", png_bytes(*dir_, 300, 300), "image/png").first, 413) << "decoded pixels";
  const std::string png = png_bytes(*dir_, 32, 16);
  EXPECT_EQ(a.post("/api/uploads", png.substr(0, png.size() / 2), "image/png").first, 400) << "truncated";
  EXPECT_EQ(a.post("/api/uploads", "\x89PNG" + std::string(2 << 20, 'x'), "image/png").first, 413) << "bytes";
}

TEST_F(ServeApi, NoFilePathsFromClients) {
  Api a = api();
  for (const char* path : {"/api/images/../../jobs.db", "/api/images/0123456789abcdef", "/../../etc/passwd",
                           "/api/uploads/..%2f..%2fjobs.db", "/jobs.db", "/api/images/%2e%2e%2fjobs.db",
                           "/api/jobs/1/../../../jobs.db", "/web/index.html"})
    EXPECT_EQ(a.get(path).first, 404) << path;
}

TEST_F(ServeApi, QueueCancelMoveAndLimit) {
  Api a = api();
  const int64_t running = a.submit({{"n_batches", 400}});
  ASSERT_GT(running, 0);
  for (int i = 0; i < 200 && a.json("/api/jobs/" + std::to_string(running)).at("state") != "running"; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::vector<int64_t> queued;
  for (int i = 0; i < 3; ++i) queued.push_back(a.submit({{"n_batches", 1}}));
  std::string why;
  EXPECT_EQ(a.submit({{"n_batches", 1}}, &why), -1);
  EXPECT_EQ(why.substr(0, 3), "429") << why;
  // Move the last queued job to the head of the queue.
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(queued[2]) + "/move", "{\"position\": 0}").first, 200);
  std::vector<int64_t> order;
  const json list = a.json("/api/jobs").at("jobs");
  for (const auto& j : list)
    if (j.at("state") == "queued") order.push_back(j.at("id"));
  EXPECT_EQ(order, (std::vector<int64_t>{queued[2], queued[0], queued[1]})) << list.dump().substr(0, 2000);
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(queued[0]) + "/move", "{}").first, 400);
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(running) + "/move", "{\"position\": 0}").first, 409);
  EXPECT_EQ(a.post("/api/jobs/999999/move", "{\"position\": 0}").first, 404);
  for (auto id : queued) EXPECT_EQ(a.post("/api/jobs/" + std::to_string(id) + "/cancel", "").first, 200);
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(running) + "/cancel", "").first, 202);
  EXPECT_EQ(a.wait_final(running).at("state"), "cancelled");
  EXPECT_EQ(a.post("/api/jobs/" + std::to_string(running) + "/cancel", "").first, 409);
  EXPECT_EQ(a.post("/api/jobs/999999/cancel", "").first, 404);
  EXPECT_EQ(a.get("/api/jobs/999999").first, 404);
  EXPECT_EQ(a.get("/api/jobs/999999/events").first, 404);
}

TEST_F(ServeApi, FailedJobKeepsTheServerServing) {
  Api a = api();
  // Valid settings that fail in the run: a prompt over CLIP's 77 tokens is found when tokenised.
  std::string long_prompt;
  for (int i = 0; i < 100; ++i) long_prompt += "lighthouse ";
  const int64_t bad = a.submit({{"text_prompts", {{"0", {long_prompt + ":1"}}}}});
  ASSERT_GT(bad, 0);
  const json job = a.wait_final(bad);
  EXPECT_EQ(job.at("state"), "failed");
  EXPECT_NE(job.at("error").get<std::string>().find("77"), std::string::npos) << job.at("error");
  const int64_t good = a.submit(json::object());
  EXPECT_EQ(a.wait_final(good).at("state"), "done");
}

TEST_F(ServeApi, Models) {
  Api a = api();
  const json models = a.json("/api/models");
  ASSERT_FALSE(models.at("models").empty());
  EXPECT_EQ(models.at("models")[0].at("installed"), false);
  auto [status, body] = a.post("/api/models/verify", "{\"name\": \"ViT-B/32\"}");
  EXPECT_EQ(status, 200);
  EXPECT_EQ(json::parse(body).at("state"), "missing");
  EXPECT_EQ(a.post("/api/models/verify", "{\"name\": \"no-such-model\"}").first, 404);
  EXPECT_EQ(a.post("/api/models/fetch", "{\"name\": \"../../etc/passwd\"}").first, 404);
}

TEST(ServeSecurity, TokenOnEveryApiCall) {
  const auto dir = serve_scratch("token");
  ServeProcess server(dir, {"--token", "s3cret"});
  ASSERT_GT(server.port(), 0) << server.output();
  Api none(server.port()), good(server.port(), "s3cret"), wrong(server.port(), "s3cres");
  EXPECT_EQ(none.get("/").first, 200) << "the page itself holds no secret";
  for (const char* path : {"/api/jobs", "/api/settings", "/api/models", "/api/jobs/1/events", "/api/images/0123456789abcdef"}) {
    EXPECT_EQ(none.get(path).first, 401) << path;
    EXPECT_EQ(wrong.get(path).first, 401) << path;
  }
  EXPECT_EQ(none.post("/api/jobs", "{\"settings\": {}}").first, 401);
  EXPECT_EQ(good.get("/api/jobs").first, 200);
  EXPECT_EQ(none.get("/api/jobs?token=s3cret").first, 200);
  EXPECT_EQ(server.output().find("s3cret"), std::string::npos) << "a given token is not printed";
  server.stop(SIGTERM);
  fs::remove_all(dir);
}

TEST(ServeSecurity, OtherAddressesNeedAToken) {
  const auto dir = serve_scratch("listen");
  const CommandResult r = run_disco({"serve", "--listen", "0.0.0.0:0", "--data", (dir / "d").string()}, dir);
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("--token"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "d" / "jobs.db")) << "refused before anything is written";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace disco::test
