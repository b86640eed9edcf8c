// The 2D warp against cv2.warpPerspective(..., BORDER_WRAP) as DD calls it (tests/fixtures/warp2d,
// made by tools/fixtures/make_warp2d_fixtures.py with OpenCV 4.6): DD's matrix to the bit and
// every output byte equal, over sizes, rotations, zooms in and out, fractional and wrapping shifts.
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "animation/warp_2d.h"

namespace {
using namespace disco::animation;
using json = nlohmann::json;

const std::string kDir = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/warp2d/";

const json& warp2d_manifest() {
  static const json m = json::parse(std::ifstream(kDir + "manifest.json"));
  return m;
}

Matrix3 from_hex(const json& values) {
  Matrix3 m{};
  for (size_t i = 0; i < 9; ++i) m[i] = std::strtod(values.at(i).get<std::string>().c_str(), nullptr);
  return m;
}

TEST(Warp2DParity, DDsMatrixAndOpenCVsInverse) {
  for (const auto& c : warp2d_manifest().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const Matrix3 m = dd_2d_matrix(c.at("w"), c.at("h"), c.at("angle"), c.at("zoom"), c.at("tx"), c.at("ty"));
    const Matrix3 want = from_hex(c.at("M_hex"));
    for (size_t i = 0; i < 9; ++i) EXPECT_EQ(m[i], want[i]) << "M[" << i << "]";
    const Matrix3 inv = invert_3x3(want), want_inv = from_hex(c.at("Minv_hex"));
    for (size_t i = 0; i < 9; ++i) EXPECT_EQ(inv[i], want_inv[i]) << "inverse[" << i << "]";
  }
}

TEST(Warp2DParity, EveryByteAsOpenCV) {
  ASSERT_GE(warp2d_manifest().at("cases").size(), 40u);
  for (const auto& c : warp2d_manifest().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const auto src = disco::io::read_png(kDir + c.at("input").get<std::string>());
    const auto want = disco::io::read_png(kDir + c.at("expected").get<std::string>());
    const auto got = warp_perspective_wrap(src, from_hex(c.at("M_hex")));
    ASSERT_EQ(got.rgb.size(), want.rgb.size());
    size_t differ = 0;
    for (size_t i = 0; i < got.rgb.size(); ++i) differ += got.rgb[i] != want.rgb[i];
    EXPECT_EQ(differ, 0u) << "bytes that differ from OpenCV's";
  }
}

}  // namespace
