// io::read_image / io::decode_image: formats told by content, the errors for damaged, oversized and
// unknown files, and images fetched over HTTP (a local test server, never the network).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "common/error.h"
#include "io/download.h"
#include "io/image.h"
#include "support/files.h"
#include "support/http_server.h"

namespace fs = std::filesystem;
using disco::io::Image8;

namespace {

const std::string kFixtures = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/images/";

using disco::test::slurp;

template <typename E, typename F>
void expect_error(F&& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "expected an error";
  } catch (const E& e) {
    for (const auto& w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
  }
}

class ImageReadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!disco::io::have_png_support() || !disco::io::have_jpeg_support() || !disco::io::have_webp_support())
      GTEST_SKIP() << "built without libpng, libjpeg or libwebp";
    dir_ = fs::temp_directory_path() / ("disco_image_read_test_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) const {
    const std::string p = (dir_ / name).string();
    std::ofstream(p, std::ios::binary) << bytes;
    return p;
  }
  fs::path dir_;
};

TEST_F(ImageReadTest, DetectsTheFormatByContentNotByName) {
  using disco::io::ImageFormat;
  const std::string jpeg = slurp(kFixtures + "jpeg_baseline_420.jpg");
  const std::string png = slurp(kFixtures + "png_rgba.png");
  const std::string webp = slurp(kFixtures + "webp_lossy.webp");
  auto detect = [](const std::string& s) {
    return disco::io::detect_image_format(reinterpret_cast<const uint8_t*>(s.data()), s.size());
  };
  EXPECT_EQ(detect(jpeg), ImageFormat::Jpeg);
  EXPECT_EQ(detect(png), ImageFormat::Png);
  EXPECT_EQ(detect(webp), ImageFormat::WebP);
  EXPECT_EQ(detect("RIFF\x10\0\0\0WAVEfmt "), ImageFormat::Unknown);
  EXPECT_EQ(detect(""), ImageFormat::Unknown);
  EXPECT_EQ(disco::io::read_image(write("photo.png", jpeg)).rgb, disco::io::read_image(kFixtures + "jpeg_baseline_420.jpg").rgb);
  EXPECT_EQ(disco::io::read_image(write("alpha.jpg", png)).rgb, disco::io::read_png(kFixtures + "png_rgba.png").rgb);
  EXPECT_EQ(disco::io::read_image(write("noext", webp)).width, 37);
}

TEST_F(ImageReadTest, RefusesTruncatedJpegsNamingTheFile) {
  for (const char* name : {"jpeg_baseline_420.jpg", "jpeg_progressive_420.jpg", "jpeg_cmyk.jpg"}) {
    const std::string full = slurp(kFixtures + name);
    // Pillow refuses all three cuts too, even the one that only loses the EOI marker.
    for (size_t keep : {size_t{300}, full.size() / 2, full.size() - 2}) {
      SCOPED_TRACE(std::string(name) + " cut to " + std::to_string(keep));
      const std::string p = write("cut.jpg", full.substr(0, keep));
      expect_error<disco::CheckpointError>([&] { disco::io::read_image(p); }, {"cut.jpg", "truncated"});
    }
  }
}

TEST_F(ImageReadTest, RefusesDamagedAndUnknownFiles) {
  const std::string jpeg = slurp(kFixtures + "jpeg_baseline_420.jpg");
  std::string bad = jpeg;
  bad[3] = '\x01';  // the first marker after SOI is no longer a marker
  for (size_t i = 4; i < 40; ++i) bad[i] = '\x01';
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("bad.jpg", bad)); },
                                       {"bad.jpg", "cannot decode JPEG"});
  const std::string webp = slurp(kFixtures + "webp_lossy.webp");
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("cut.webp", webp.substr(0, webp.size() / 2))); },
                                       {"cut.webp", "WebP"});
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("a.png", "GIF89a\x01\0\x01\0")); },
                                       {"a.png", "GIF"});
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("page.jpg", "\n<!DOCTYPE html><html>")); },
                                       {"page.jpg", "web page"});
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("empty.png", "")); }, {"empty.png", "empty"});
  expect_error<disco::CheckpointError>([&] { disco::io::read_image((dir_ / "missing.jpg").string()); },
                                       {"missing.jpg", "cannot open"});
}

// The header's size is refused before decoding: the files below hold no pixel data at all.
TEST_F(ImageReadTest, RefusesOversizedImagesFromTheHeader) {
  std::string jpeg = slurp(kFixtures + "jpeg_baseline_420.jpg");
  const size_t sof = jpeg.find("\xff\xc0");
  ASSERT_NE(sof, std::string::npos);
  const char size_20000[] = {'\x4e', '\x20', '\x4e', '\x20'};  // SOF: height, width (big-endian)
  jpeg.replace(sof + 5, 4, size_20000, 4);
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("huge.jpg", jpeg)); },
                                       {"huge.jpg", "20000 x 20000", "400 megapixels", "downscale"});
  std::string png = slurp(kFixtures + "png_gray.png");
  const char ihdr_size[] = {0, 0, '\x4e', '\x20', 0, 0, '\x4e', '\x20'};  // IHDR: width, height
  png.replace(16, 8, ihdr_size, 8);
  const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17));
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<char>((crc >> (24 - 8 * i)) & 0xff);
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("huge.png", png)); },
                                       {"huge.png", "20000 x 20000", "megapixels"});
  std::string webp = slurp(kFixtures + "webp_lossless.webp");
  ASSERT_EQ(webp.substr(12, 4), "VP8L");
  const uint32_t bits = 16382u | (16382u << 14);  // VP8L: 14-bit width - 1, 14-bit height - 1
  for (int i = 0; i < 4; ++i) webp[21 + i] = static_cast<char>((bits >> (8 * i)) & 0xff);
  expect_error<disco::CheckpointError>([&] { disco::io::read_image(write("huge.webp", webp)); },
                                       {"huge.webp", "16383 x 16383", "megapixels"});
}

TEST_F(ImageReadTest, FetchesImagesOverHttp) {
  if (!disco::io::download_supported()) GTEST_SKIP() << "built without libcurl";
  disco::test::HttpServer server;
  const std::string jpeg = slurp(kFixtures + "jpeg_progressive_444.jpg");
  server.add("/in.jpg", {jpeg, "image/jpeg"});
  server.add("/page", {"<!doctype html><html><body>log in</body></html>", "text/html"});
  const std::string url = server.url("/in.jpg");
  EXPECT_EQ(disco::io::decode_image(disco::io::fetch_to_memory(url), url).rgb,
            disco::io::read_image(kFixtures + "jpeg_progressive_444.jpg").rgb);
  expect_error<disco::io::DownloadError>([&] { disco::io::fetch_to_memory(server.url("/gone.png")); },
                                         {server.url("/gone.png"), "404", "check the URL"});
  const std::string page = server.url("/page");
  expect_error<disco::CheckpointError>([&] { disco::io::decode_image(disco::io::fetch_to_memory(page), page); },
                                       {page, "web page"});
  disco::io::FetchOptions small;
  small.max_bytes = 1000;
  expect_error<disco::io::DownloadError>([&] { disco::io::fetch_to_memory(url, small); }, {url, "larger than"});
  disco::test::SilentServer silent;
  disco::io::FetchOptions quick;
  quick.timeout_s = 1;
  expect_error<disco::io::DownloadError>([&] { disco::io::fetch_to_memory(silent.url("/slow.jpg"), quick); },
                                         {silent.url("/slow.jpg"), "did not answer in time"});
}

}  // namespace
