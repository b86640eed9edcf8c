// Reading init images and image prompts against Pillow 9.4's Image.open(f).convert('RGB')
// (tests/fixtures/images, made by tools/fixtures/make_image_fixtures.py): every byte equal for
// baseline, progressive, 4:2:0/4:2:2/4:4:4, gray, CMYK and EXIF-rotated JPEGs, palette+tRNS,
// gray, gray+alpha, RGBA and 16-bit PNGs, and lossy, lossless, alpha and animated WebPs.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/image.h"
#include "io/sha256.h"
#include "support/files.h"

namespace {
using json = nlohmann::json;

const std::string kDir = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/images/";

const json& manifest() {
  static const json m = json::parse(std::ifstream(kDir + "manifest.json"));
  return m;
}

using disco::test::slurp;

bool supported(const std::string& format) {
  if (format == "JPEG") return disco::io::have_jpeg_support();
  if (format == "WEBP") return disco::io::have_webp_support();
  return disco::io::have_png_support();
}

TEST(ImageFormatsParity, EveryByteAsPillowConvertRgb) {
  ASSERT_GE(manifest().at("cases").size(), 18u);
  int compared = 0;
  for (const auto& c : manifest().at("cases")) {
    const std::string file = c.at("file");
    SCOPED_TRACE(file + " (Pillow mode " + c.at("pil_mode").get<std::string>() + ")");
    ASSERT_EQ(disco::io::sha256_file(kDir + file), c.at("sha256").get<std::string>())
        << "fixture changed; rerun tools/fixtures/make_image_fixtures.py";
    if (!supported(c.at("format"))) continue;
    const auto got = disco::io::read_image(kDir + file);
    const std::string want = slurp(kDir + c.at("expected_rgb").get<std::string>());
    ASSERT_EQ(got.width, c.at("width").get<int>());
    ASSERT_EQ(got.height, c.at("height").get<int>());
    ASSERT_EQ(got.rgb.size(), want.size());
    size_t differ = 0, first = want.size();
    for (size_t i = 0; i < want.size(); ++i)
      if (got.rgb[i] != static_cast<uint8_t>(want[i])) differ++, first = std::min(first, i);
    EXPECT_EQ(differ, 0u) << "bytes that differ from Pillow's; first at byte " << first << " (pixel " << first / 3
                          << ", channel " << first % 3 << "): ours " << (first < want.size() ? +got.rgb[first] : 0)
                          << ", Pillow's " << (first < want.size() ? +static_cast<uint8_t>(want[first]) : 0);
    ++compared;
  }
  std::printf("PARITY images: %d files decoded, every byte compared with Pillow %s\n", compared,
              manifest().at("pillow").get<std::string>().c_str());
}

}  // namespace
