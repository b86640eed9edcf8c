// Pillow-BICUBIC resampling (io/pil_resize): properties of the kernel and the fixed-point
// arithmetic; bit-exactness against Pillow is checked by pil_resize_bicubic_parity_test.cpp.
#include <random>

#include <gtest/gtest.h>

#include "common/error.h"
#include "io/pil_resize.h"

using disco::io::Image8;

namespace {
Image8 bicubic_random(int w, int h, unsigned seed) {
  std::mt19937 rng(seed);
  Image8 img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (auto& b : img.rgb) b = rng() & 0xff;
  return img;
}
}  // namespace

TEST(PilResizeBicubic, SameSizeIsACopy) {
  Image8 img = bicubic_random(9, 4, 3);
  EXPECT_EQ(disco::io::resize_bicubic(img, 9, 4).rgb, img.rgb);
}

TEST(PilResizeBicubic, ConstantImageStaysConstant) {
  Image8 img{13, 7, std::vector<uint8_t>(13 * 7 * 3, 200)};
  for (auto [w, h] : {std::pair{40, 21}, std::pair{3, 2}, std::pair{13, 30}}) {
    Image8 out = disco::io::resize_bicubic(img, w, h);
    ASSERT_EQ(out.rgb.size(), static_cast<size_t>(w) * h * 3);
    for (uint8_t v : out.rgb) EXPECT_EQ(v, 200);
  }
}

TEST(PilResizeBicubic, DoublingFollowsALinearRampWithinOneLevel) {
  // Keys' cubic reproduces a linear ramp, but Pillow takes the taps in [center - 2 + 0.5,
  // center + 2 + 0.5), truncated, so some outputs see three of the four: within one level.
  Image8 ramp{8, 1, std::vector<uint8_t>(8 * 3)};
  for (int x = 0; x < 8; ++x)
    for (int c = 0; c < 3; ++c) ramp.at(0, x, c) = static_cast<uint8_t>(40 + 20 * x);
  Image8 out = disco::io::resize_bicubic(ramp, 16, 1);
  for (int x = 2; x < 14; ++x) EXPECT_NEAR(out.at(0, x, 0), 40 + 20 * ((x + 0.5) / 2 - 0.5), 1.0) << x;
}

TEST(PilResizeBicubic, DiffersFromLanczos) {
  Image8 img = bicubic_random(20, 20, 5);
  EXPECT_NE(disco::io::resize_bicubic(img, 31, 17).rgb, disco::io::resize_lanczos(img, 31, 17).rgb);
}

TEST(PilResizeBicubic, RefusesEmptySizes) {
  EXPECT_THROW(disco::io::resize_bicubic(bicubic_random(4, 4, 1), 0, 3), disco::Error);
}
