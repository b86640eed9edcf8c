// The model manager against a local HTTP server (127.0.0.1 only; no network in tests).
#include "disco/models.h"

#include <filesystem>
#include <fstream>
#include <random>

#include <gtest/gtest.h>

#include "io/sha256.h"
#include "support/files.h"
#include "support/http_server.h"

namespace fs = std::filesystem;
using disco::ModelEntry;
using disco::test::HttpServer;
using disco::test::Route;

namespace {

std::string random_bytes(size_t n) {
  std::mt19937 gen(42);
  std::string s(n, '\0');
  for (auto& c : s) c = char(gen() & 0xff);
  return s;
}

using disco::test::slurp;

class ModelManager : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!disco::io::download_supported()) GTEST_SKIP() << "built without libcurl: downloads disabled";
    dir_ = fs::temp_directory_path() / ("disco_models_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    body_ = random_bytes(300000);
  }
  void TearDown() override { fs::remove_all(dir_); }

  ModelEntry entry(std::vector<std::string> urls, std::string sha = "") {
    return {"test-model", "diffusion", "test.pt", sha.empty() ? disco::io::sha256_hex(body_) : sha, "",
            std::move(urls)};
  }

  fs::path dir_;
  std::string body_;
  HttpServer server_;
};

}  // namespace

TEST_F(ModelManager, DownloadsVerifiesAndReusesTheCachedFile) {
  server_.add("/m.pt", Route{body_});
  auto e = entry({server_.url("/m.pt")});
  int64_t last = 0;
  disco::FetchOptions opt;
  opt.download.on_progress = [&](int64_t got, int64_t) { last = got; };
  std::string path = disco::ensure_model(e, dir_.string(), opt);
  EXPECT_EQ(slurp(path), body_);
  EXPECT_EQ(last, int64_t(body_.size()));
  EXPECT_EQ(disco::verify_model(e, dir_.string()).state, disco::ModelState::Ok);
  disco::ensure_model(e, dir_.string());  // second call: no new request
  EXPECT_EQ(server_.log().size(), 1u);
  EXPECT_FALSE(fs::exists(path + ".part"));
}

TEST_F(ModelManager, ResumesAfterACutConnection) {
  Route r{body_};
  r.cut_after = 100000;
  r.cut_times = 1;
  server_.add("/m.pt", r);
  std::string path = disco::ensure_model(entry({server_.url("/m.pt")}), dir_.string());
  EXPECT_EQ(slurp(path), body_);
  auto log = server_.log();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0], "GET /m.pt");
  EXPECT_EQ(log[1], "GET /m.pt range=100000");  // the second request continued, not restarted
}

TEST_F(ModelManager, RestartsWhenTheServerIgnoresRange) {
  Route r{body_};
  r.cut_after = 1000;
  r.cut_times = 1;
  r.honour_range = false;
  server_.add("/m.pt", r);
  EXPECT_EQ(slurp(disco::ensure_model(entry({server_.url("/m.pt")}), dir_.string())), body_);
}

TEST_F(ModelManager, ChecksumMismatchIsQuarantinedAndReported) {
  server_.add("/m.pt", Route{body_});
  auto e = entry({server_.url("/m.pt")}, std::string(64, '0'));
  try {
    disco::ensure_model(e, dir_.string());
    FAIL() << "expected DownloadError";
  } catch (const disco::io::DownloadError& err) {
    std::string msg = err.what();
    EXPECT_NE(msg.find("does not match"), std::string::npos) << msg;
    EXPECT_NE(msg.find(".corrupt"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir_ / "test.pt"));
  EXPECT_TRUE(fs::exists(dir_ / "test.pt.corrupt"));
}

TEST_F(ModelManager, FallsBackFromADeadMirror) {
  server_.add("/m.pt", Route{body_});
  std::string dead = "http://127.0.0.1:" + std::to_string(disco::test::unused_local_port()) + "/m.pt";
  std::vector<std::string> lines;
  disco::FetchOptions opt;
  opt.on_log = [&](const std::string& l) { lines.push_back(l); };
  opt.download.attempts = 1;
  std::string path = disco::ensure_model(entry({dead, server_.url("/m.pt")}), dir_.string(), opt);
  EXPECT_EQ(slurp(path), body_);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(dead), std::string::npos);
}

TEST_F(ModelManager, HtmlPageAndHttpErrorsAreRefused) {
  Route html{"<!DOCTYPE html><html><body>Sign in to continue</body></html>", "text/html"};
  server_.add("/login.pt", html);
  auto e = entry({server_.url("/login.pt"), server_.url("/missing.pt")});
  try {
    disco::ensure_model(e, dir_.string());
    FAIL() << "expected DownloadError";
  } catch (const disco::io::DownloadError& err) {
    std::string msg = err.what();
    EXPECT_NE(msg.find("web page"), std::string::npos) << msg;
    EXPECT_NE(msg.find("404"), std::string::npos) << msg;
  }
  EXPECT_FALSE(fs::exists(dir_ / "test.pt"));
  EXPECT_FALSE(fs::exists(dir_ / "test.pt.part"));
}

TEST_F(ModelManager, CorruptCachedFileIsFetchedAgain) {
  server_.add("/m.pt", Route{body_});
  fs::create_directories(dir_);
  std::ofstream(dir_ / "test.pt") << "damaged";
  auto e = entry({server_.url("/m.pt")});
  EXPECT_EQ(disco::verify_model(e, dir_.string()).state, disco::ModelState::Corrupt);
  EXPECT_EQ(slurp(disco::ensure_model(e, dir_.string())), body_);
  EXPECT_EQ(slurp((dir_ / "test.pt.corrupt").string()), "damaged");
}

TEST(ModelRegistry, KnowsEveryModelDiscoDiffusionUses) {
  for (const char* name : {"512x512_diffusion_uncond_finetune_008100", "256x256_diffusion_uncond",
                           "secondary_model_imagenet_2", "RN50", "RN101", "RN50x4", "RN50x16", "RN50x64",
                           "ViT-B/32", "ViT-B/16", "ViT-L/14", "ViT-L/14@336px", "vgg16",
                           "bpe_simple_vocab_16e6", "portrait_generator_v001", "PulpSciFiDiffusion"}) {
    const ModelEntry* e = disco::find_model(name);
    ASSERT_NE(e, nullptr) << name;
    EXPECT_FALSE(e->urls.empty()) << name;
  }
  // CLIP's URLs carry the file's sha256 as the path segment before the file name.
  const ModelEntry& vit = disco::model_entry("ViT-B/32");
  EXPECT_NE(vit.urls[0].find("/" + vit.sha256 + "/"), std::string::npos);
  EXPECT_THROW(disco::model_entry("ViT-X/99"), disco::SettingsError);
}

// open_clip's files publish only an 8-hex-digit sha256 prefix (in the name): that is what is checked.
TEST(ModelRegistry, OpenClipEntriesCheckTheirPublishedHashPrefix) {
  const ModelEntry& e = disco::model_entry("ViT-B-32::laion400m_e31");
  EXPECT_EQ(e.kind, "openclip");
  EXPECT_EQ(e.file_name, "vit_b_32-quickgelu-laion400m_e31-d867053b.pt");
  EXPECT_TRUE(e.sha256.empty());
  EXPECT_EQ(e.sha256_prefix, "d867053b");
  ASSERT_EQ(e.urls.size(), 1u);
  EXPECT_EQ(e.urls[0], "https://github.com/mlfoundations/open_clip/releases/download/v0.2-weights/" + e.file_name);
  EXPECT_EQ(disco::model_entry("ViT-B-32-quickgelu::laion400m_e31").file_name, e.file_name);
  int open_clip = 0;
  for (const auto& m : disco::model_registry()) open_clip += m.kind == "openclip";
  EXPECT_EQ(open_clip, 13);
}

TEST(ModelRegistry, ModelsDirHonoursEnvironment) {
  ::setenv("DISCO_MODELS", "/tmp/somewhere", 1);
  EXPECT_EQ(disco::default_models_dir(), "/tmp/somewhere");
  ::unsetenv("DISCO_MODELS");
  EXPECT_NE(disco::default_models_dir().find("disco-cpp"), std::string::npos);
}
