// PNG reading/writing and the torchvision-style tensor conversions of io/image.
#include "io/image.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "support/files.h"
#ifdef DISCO_HAVE_PNG
#include <png.h>
#endif

namespace fs = std::filesystem;
using disco::io::Image8;

namespace {

// A fresh empty folder per test, removed afterwards.
class ImageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("disco_image_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (auto& e : fs::directory_iterator(dir_)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
  fs::path dir_;
};

Image8 random_image(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  Image8 img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (auto& b : img.rgb) b = static_cast<uint8_t>(rng() & 0xff);
  return img;
}

using disco::test::slurp;

template <typename F>
void expect_error_mentioning(F&& f, const std::vector<std::string>& words) {
  try {
    f();
    FAIL() << "expected a disco::Error";
  } catch (const disco::Error& e) {
    for (const auto& w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
  }
}

#ifdef DISCO_HAVE_PNG
// Writes a PNG of any layout with libpng directly: the reader must handle what other tools write.
void write_raw_png(const std::string& p, int w, int h, int color_type, int bit_depth,
                   const std::vector<uint8_t>& data, int interlace = PNG_INTERLACE_NONE,
                   const std::vector<png_color>& palette = {}, const std::vector<uint8_t>& trns = {}) {
  FILE* f = std::fopen(p.c_str(), "wb");
  ASSERT_TRUE(f);
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  png_init_io(png, f);
  png_set_IHDR(png, info, w, h, bit_depth, color_type, interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  if (!trns.empty()) png_set_tRNS(png, info, trns.data(), static_cast<int>(trns.size()), nullptr);
  png_write_info(png, info);
  size_t row = data.size() / h;
  std::vector<png_bytep> rows(h);
  for (int y = 0; y < h; ++y) rows[y] = const_cast<png_bytep>(data.data() + row * y);
  png_write_image(png, rows.data());
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  std::fclose(f);
}
#endif

#ifdef DISCO_HAVE_PNG

TEST_F(ImageTest, RoundTripKeepsPixelsAndTextChunks) {
  Image8 img = random_image(37, 23, 1);
  disco::io::PngText text{{"Software", "disco-cpp"},
                          {"settings", "{\"text_prompts\": {\"0\": [\"caf\xc3\xa9 \xe2\x9c\xa8 lighthouse:2\"]}}"},
                          {"Comment", "line one\nline two"}};
  disco::io::write_png(path("out.png"), img, text);
  Image8 back = disco::io::read_png(path("out.png"));
  EXPECT_EQ(back.width, 37);
  EXPECT_EQ(back.height, 23);
  EXPECT_EQ(back.rgb, img.rgb);
  EXPECT_EQ(disco::io::read_png_text(path("out.png")), text);
  // ASCII values go to tEXt, the UTF-8 one to iTXt.
  std::string bytes = slurp(path("out.png"));
  EXPECT_NE(bytes.find("tEXtSoftware"), std::string::npos);
  EXPECT_NE(bytes.find("iTXtsettings"), std::string::npos);
  EXPECT_EQ(listing(), std::vector<std::string>{"out.png"}) << "no temporary file may remain";
}

TEST_F(ImageTest, WriteReplacesAnExistingFile) {
  disco::io::write_png(path("a.png"), random_image(8, 8, 2));
  Image8 second = random_image(5, 9, 3);
  disco::io::write_png(path("a.png"), second);
  EXPECT_EQ(disco::io::read_png(path("a.png")).rgb, second.rgb);
  EXPECT_TRUE(disco::io::read_png_text(path("a.png")).empty());
}

TEST_F(ImageTest, AtomicWriteLeavesNoFileWhenTheFolderIsMissing) {
  std::string target = path("missing/sub/out.png");
  expect_error_mentioning([&] { disco::io::write_png(target, random_image(4, 4, 4)); },
                          {"cannot write image", "missing/sub/out.png"});
  EXPECT_FALSE(fs::exists(target));
  EXPECT_TRUE(listing().empty());
}

TEST_F(ImageTest, FailedRenameLeavesNoTemporaryFile) {
  fs::create_directories(path("taken"));  // the target name is a folder: rename() fails
  EXPECT_THROW(disco::io::write_png(path("taken"), random_image(4, 4, 5)), disco::Error);
  EXPECT_EQ(listing(), std::vector<std::string>{"taken"});
  EXPECT_TRUE(fs::is_directory(path("taken")));
}

TEST_F(ImageTest, RefusesBadTextKeysAndInconsistentImages) {
  EXPECT_THROW(disco::io::write_png(path("k.png"), random_image(2, 2, 6), {{"", "x"}}), disco::SettingsError);
  EXPECT_THROW(disco::io::write_png(path("k.png"), random_image(2, 2, 6), {{std::string(80, 'k'), "x"}}),
               disco::SettingsError);
  Image8 bad{4, 4, std::vector<uint8_t>(10)};
  EXPECT_THROW(disco::io::write_png(path("k.png"), bad), disco::Error);
  EXPECT_TRUE(listing().empty());
}

TEST_F(ImageTest, RefusesMissingFile) {
  expect_error_mentioning([&] { disco::io::read_png(path("nope.png")); }, {"cannot open image", "nope.png"});
  EXPECT_THROW(disco::io::read_png_text(path("nope.png")), disco::CheckpointError);
}

TEST_F(ImageTest, RefusesFilesThatAreNotPng) {
  std::ofstream(path("photo.jpg"), std::ios::binary) << "\xff\xd8\xff\xe0 JFIF not a png at all";
  expect_error_mentioning([&] { disco::io::read_png(path("photo.jpg")); }, {"not a PNG", "photo.jpg"});
  std::ofstream(path("empty.png"), std::ios::binary).flush();
  expect_error_mentioning([&] { disco::io::read_png(path("empty.png")); }, {"not a PNG"});
}

TEST_F(ImageTest, RefusesTruncatedPng) {
  disco::io::write_png(path("full.png"), random_image(32, 32, 7), {{"Comment", "trailing text"}});
  std::string bytes = slurp(path("full.png"));
  for (size_t cut : {size_t{9}, size_t{20}, size_t{40}, bytes.size() / 2, bytes.size() - 30}) {
    std::ofstream(path("cut.png"), std::ios::binary) << bytes.substr(0, cut);
    expect_error_mentioning([&] { disco::io::read_png(path("cut.png")); }, {"truncated or damaged", "cut.png"});
  }
}

TEST_F(ImageTest, ConvertsOtherLayoutsLikePilConvertRgb) {
  // gray 8-bit: R = G = B
  write_raw_png(path("g.png"), 3, 1, PNG_COLOR_TYPE_GRAY, 8, {0, 100, 255});
  EXPECT_EQ(disco::io::read_png(path("g.png")).rgb, (std::vector<uint8_t>{0, 0, 0, 100, 100, 100, 255, 255, 255}));
  // gray 1-bit: 0 / 255
  write_raw_png(path("g1.png"), 8, 1, PNG_COLOR_TYPE_GRAY, 1, {0xA0});
  auto g1 = disco::io::read_png(path("g1.png"));
  EXPECT_EQ(g1.at(0, 0, 1), 255);
  EXPECT_EQ(g1.at(0, 1, 1), 0);
  EXPECT_EQ(g1.at(0, 2, 2), 255);
  // gray + alpha: alpha dropped, not composited
  write_raw_png(path("ga.png"), 2, 1, PNG_COLOR_TYPE_GRAY_ALPHA, 8, {10, 0, 200, 77});
  EXPECT_EQ(disco::io::read_png(path("ga.png")).rgb, (std::vector<uint8_t>{10, 10, 10, 200, 200, 200}));
  // RGBA: alpha dropped
  write_raw_png(path("rgba.png"), 2, 1, PNG_COLOR_TYPE_RGBA, 8, {1, 2, 3, 0, 4, 5, 6, 128});
  EXPECT_EQ(disco::io::read_png(path("rgba.png")).rgb, (std::vector<uint8_t>{1, 2, 3, 4, 5, 6}));
  // 16-bit RGB: high byte
  write_raw_png(path("rgb16.png"), 1, 1, PNG_COLOR_TYPE_RGB, 16, {0x12, 0xff, 0xab, 0x01, 0x00, 0x80});
  EXPECT_EQ(disco::io::read_png(path("rgb16.png")).rgb, (std::vector<uint8_t>{0x12, 0xab, 0x00}));
  // palette with transparency: colours looked up, alpha dropped
  std::vector<png_color> pal{{9, 8, 7}, {200, 100, 50}};
  write_raw_png(path("p.png"), 3, 1, PNG_COLOR_TYPE_PALETTE, 8, {1, 0, 1}, PNG_INTERLACE_NONE, pal, {0, 255});
  EXPECT_EQ(disco::io::read_png(path("p.png")).rgb,
            (std::vector<uint8_t>{200, 100, 50, 9, 8, 7, 200, 100, 50}));
  // interlaced RGB decodes to the same pixels
  Image8 img = random_image(13, 11, 8);
  write_raw_png(path("adam7.png"), 13, 11, PNG_COLOR_TYPE_RGB, 8, img.rgb, PNG_INTERLACE_ADAM7);
  EXPECT_EQ(disco::io::read_png(path("adam7.png")).rgb, img.rgb);
}

#else

TEST(ImageNoPng, ReadAndWriteSayTheBuildHasNoPngSupport) {
  EXPECT_FALSE(disco::io::have_png_support());
  expect_error_mentioning([] { disco::io::read_png("x.png"); }, {"no PNG support"});
  expect_error_mentioning([] { disco::io::write_png("x.png", random_image(2, 2, 1)); }, {"no PNG support"});
}

#endif

TEST(ImageTensor, ToTensorIsByteOver255ThenTimesTwoMinusOne) {
  Image8 img{2, 1, {0, 51, 255, 128, 1, 254}};
  auto t01 = disco::io::to_tensor_01(img);
  ASSERT_EQ(t01.sizes(), (std::vector<int64_t>{1, 3, 1, 2}));
  EXPECT_EQ(t01[0][1][0][0].item<float>(), 51.0f / 255.0f);  // channel G of pixel 0
  EXPECT_EQ(t01[0][0][0][1].item<float>(), 128.0f / 255.0f);
  auto t = disco::io::to_tensor(img);
  EXPECT_EQ(t[0][2][0][1].item<float>(), 254.0f / 255.0f * 2.0f - 1.0f);
  EXPECT_EQ(t[0][0][0][0].item<float>(), -1.0f);
}

TEST(ImageTensor, FromTensorTruncatesAndClamps) {
  // [1, 3, 1, 4]: -1 -> 0, 1 -> 255, 0 -> 127 (127.5 truncated), out of range clamped
  auto x = torch::tensor({-1.0f, 1.0f, 0.0f, 3.0f, -5.0f, 0.999f, 0.5f, -0.5f, 0.0f, 0.0f, 0.0f, 0.0f})
               .view({1, 3, 1, 4});
  Image8 img = disco::io::from_tensor(x);
  ASSERT_EQ(img.width, 4);
  ASSERT_EQ(img.height, 1);
  EXPECT_EQ(img.at(0, 0, 0), 0);
  EXPECT_EQ(img.at(0, 1, 0), 255);
  EXPECT_EQ(img.at(0, 2, 0), 127);
  EXPECT_EQ(img.at(0, 3, 0), 255);
  EXPECT_EQ(img.at(0, 0, 1), 0);
  EXPECT_EQ(img.at(0, 1, 1), 254);  // 0.9995 * 255 = 254.87
  EXPECT_EQ(img.at(0, 2, 1), 191);  // 0.75 * 255 = 191.25
  EXPECT_EQ(img.at(0, 3, 1), 63);   // 0.25 * 255 = 63.75
  // Round trip bytes -> [-1, 1] -> bytes may lose 1 to truncation, never more, never gain.
  Image8 all{256, 1, std::vector<uint8_t>(256 * 3)};
  for (size_t k = 0; k < all.rgb.size(); ++k) all.rgb[k] = static_cast<uint8_t>(k / 3);
  Image8 back = disco::io::from_tensor(disco::io::to_tensor(all));
  for (size_t k = 0; k < all.rgb.size(); ++k) {
    EXPECT_LE(back.rgb[k], all.rgb[k]);
    EXPECT_GE(back.rgb[k] + 1, all.rgb[k]);
  }
  EXPECT_THROW(disco::io::from_tensor(torch::zeros({1, 4, 2, 2})), disco::Error);
}

TEST(ImageTensor, U8TensorIsNumpyArrayLayout) {
  Image8 img = random_image(5, 3, 9);
  auto t = disco::io::to_u8_tensor(img);
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 5, 3}));
  EXPECT_EQ(t[2][4][1].item<uint8_t>(), img.at(2, 4, 1));
  EXPECT_EQ(disco::io::from_u8_tensor(t).rgb, img.rgb);
}

}  // namespace
