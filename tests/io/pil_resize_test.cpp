// Pillow-LANCZOS resampling and torchvision's shorter-edge rule (io/pil_resize); bit-exactness
// against Pillow itself is checked by pil_resize_parity_test.cpp.
#include "io/pil_resize.h"

#include <random>

#include <gtest/gtest.h>

#include "common/error.h"

using disco::io::Image8;

namespace {
Image8 filled(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image8 img{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (size_t k = 0; k < img.rgb.size(); k += 3) {
    img.rgb[k] = r;
    img.rgb[k + 1] = g;
    img.rgb[k + 2] = b;
  }
  return img;
}
}  // namespace

TEST(PilResize, SameSizeIsACopy) {
  std::mt19937 rng(1);
  Image8 img{7, 5, std::vector<uint8_t>(7 * 5 * 3)};
  for (auto& b : img.rgb) b = rng() & 0xff;
  EXPECT_EQ(disco::io::resize_lanczos(img, 7, 5).rgb, img.rgb);
}

TEST(PilResize, UnchangedAxisIsNotFiltered) {
  // Only the width changes: every column of a row-constant image keeps its row's value.
  Image8 img = filled(6, 3, 0, 0, 7);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 6; ++x) img.at(y, x, 0) = static_cast<uint8_t>(y * 100);
  Image8 out = disco::io::resize_lanczos(img, 4, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) EXPECT_EQ(out.at(y, x, 0), y * 100);
}

TEST(PilResize, ConstantImageStaysConstantUpAndDown) {
  for (auto [w, h] : {std::pair{3, 2}, std::pair{64, 64}, std::pair{17, 90}}) {
    Image8 out = disco::io::resize_lanczos(filled(40, 30, 0, 128, 255), w, h);
    ASSERT_EQ(out.width, w);
    ASSERT_EQ(out.height, h);
    for (int k = 0; k < w * h; ++k) {
      EXPECT_EQ(out.rgb[3 * k], 0);
      EXPECT_EQ(out.rgb[3 * k + 1], 128);
      EXPECT_EQ(out.rgb[3 * k + 2], 255);
    }
  }
}

TEST(PilResize, HalvingTwoPixelsAveragesWithFixedPointRounding) {
  // 2 -> 1: both taps weigh 0.5 = 2^21 / 2^22, so out = (2^21 + (a + b) * 2^21) >> 22 = floor((a+b+1)/2).
  Image8 img{2, 1, {10, 10, 0, 13, 12, 255}};
  Image8 out = disco::io::resize_lanczos(img, 1, 1);
  EXPECT_EQ(out.at(0, 0, 0), 12);   // 23 / 2 rounded up
  EXPECT_EQ(out.at(0, 0, 1), 11);   // 22 / 2
  EXPECT_EQ(out.at(0, 0, 2), 128);  // 255 / 2 rounded up
}

TEST(PilResize, OvershootIsClippedToBytes) {
  // A hard edge upscaled with Lanczos rings past 0 and 255; the output saturates instead of wrapping.
  Image8 img{4, 1, {0, 0, 0, 0, 0, 0, 255, 255, 255, 255, 255, 255}};
  Image8 out = disco::io::resize_lanczos(img, 16, 1);
  bool saw_low = false, saw_high = false;
  for (int x = 0; x < 16; ++x) {
    saw_low = saw_low || out.at(0, x, 0) == 0;
    saw_high = saw_high || out.at(0, x, 0) == 255;
  }
  EXPECT_TRUE(saw_low && saw_high);
}

TEST(PilResize, RefusesEmptySizes) {
  EXPECT_THROW(disco::io::resize_lanczos(filled(2, 2, 1, 2, 3), 0, 4), disco::Error);
  EXPECT_THROW(disco::io::resize_lanczos(Image8{}, 4, 4), disco::Error);
}

TEST(PilResize, ShorterEdgeRuleTruncatesTheLongerEdge) {
  EXPECT_EQ(disco::io::shorter_edge_size(90, 70, 64), std::make_pair(82, 64));  // 64*90/70 = 82.28
  EXPECT_EQ(disco::io::shorter_edge_size(70, 90, 64), std::make_pair(64, 82));  // portrait kept
  EXPECT_EQ(disco::io::shorter_edge_size(50, 50, 20), std::make_pair(20, 20));
  EXPECT_EQ(disco::io::shorter_edge_size(3, 1000, 2), std::make_pair(2, 666));
}

TEST(PilResize, ImagePromptsAreNeverUpscaled) {
  Image8 small = filled(30, 20, 5, 6, 7);
  Image8 out = disco::io::resize_image_prompt(small, 64, 64);
  EXPECT_EQ(out.width, 30);
  EXPECT_EQ(out.height, 20);
  Image8 big = filled(300, 200, 5, 6, 7);
  out = disco::io::resize_image_prompt(big, 128, 64);  // min(side_x, side_y) = 64
  EXPECT_EQ(out.width, 96);
  EXPECT_EQ(out.height, 64);
}
