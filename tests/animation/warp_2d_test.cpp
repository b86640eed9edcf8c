#include <gtest/gtest.h>

#include "animation/warp_2d.h"
#include "common/error.h"

namespace {
using namespace disco::animation;
using disco::io::Image8;

Image8 pattern(int w, int h) {
  Image8 im{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (size_t i = 0; i < im.rgb.size(); ++i) im.rgb[i] = static_cast<uint8_t>((i * 37 + i / 7) % 251);
  return im;
}

TEST(Warp2D, DDsMatrixIsRotationAboutTheCentreAfterTheShift) {
  const Matrix3 m = dd_2d_matrix(64, 32, 90, 2, 1.5, -1);
  // cos(90°) is not exactly 0 in double; the rest follows getRotationMatrix2D((32, 16), 90, 2).
  EXPECT_NEAR(m[0], 0, 1e-15);
  EXPECT_DOUBLE_EQ(m[1], 2);
  EXPECT_DOUBLE_EQ(m[3], -2);
  EXPECT_NEAR(m[2], 0 * 1.5 + 2 * -1 + (32 - 2 * 16), 1e-12);
  EXPECT_NEAR(m[5], -2 * 1.5 + 0 + (2 * 32 + 16), 1e-12);
  EXPECT_EQ(m[6], 0);
  EXPECT_EQ(m[8], 1);
}

TEST(Warp2D, WholePixelShiftsWrapAround) {
  const Image8 src = pattern(8, 6);
  const Image8 out = warp_perspective_wrap(src, dd_2d_matrix(8, 6, 0, 1, 3, -2));
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c) ASSERT_EQ(out.at(y, x, c), src.at((y + 2) % 6, (x + 5) % 8, c)) << x << "," << y;
  EXPECT_EQ(warp_perspective_wrap(src, dd_2d_matrix(8, 6, 0, 1, 0, 0)).rgb, src.rgb);
}

TEST(Warp2D, HalfPixelShiftAveragesRoundingHalfUp) {
  const Image8 src = pattern(8, 4);
  const Image8 out = warp_perspective_wrap(src, dd_2d_matrix(8, 4, 0, 1, 0.5, 0));
  for (int y = 0; y < 4; ++y)
    for (int x = 0; x < 8; ++x)
      for (int c = 0; c < 3; ++c)
        ASSERT_EQ(out.at(y, x, c), (src.at(y, (x + 7) % 8, c) + src.at(y, x, c) + 1) / 2) << x << "," << y;
}

TEST(Warp2D, ZoomZeroIsAClearError) {
  EXPECT_THROW(warp_perspective_wrap(pattern(4, 4), dd_2d_matrix(4, 4, 0, 0, 0, 0)), disco::SettingsError);
}

}  // namespace
