#include <gtest/gtest.h>

#include "animation/key_frames.h"

namespace {
using namespace disco::animation;
using disco::SettingsError;

std::vector<double> series(const std::string& text, int64_t frames, Interp interp = Interp::Linear,
                           std::vector<std::string>* notes = nullptr) {
  return key_frame_series(text, frames, interp, "zoom", notes);
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-12) << "frame " << i;
}

TEST(KeyFrames, ParsesDDsPatternInDictOrder) {
  const auto keys = parse_key_frames("5:(1), 0: (2),5:  ( 3.5 ), junk 7:(x", "angle");
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].frame, 5);
  EXPECT_EQ(keys[0].value, 3.5);  // a repeated key keeps its first place and takes the last value
  EXPECT_EQ(keys[1].frame, 0);
  EXPECT_EQ(keys[1].value, 2);
  EXPECT_THROW(parse_key_frames("0: (abc)", "angle"), SettingsError);
  EXPECT_THROW(parse_key_frames("no keys", "angle"), KeyFrameFormatError);
  EXPECT_TRUE(parse_key_frames("", "angle").empty());
}

TEST(KeyFrames, LinearHoldsTheEndsAndInterpolatesBetween) {
  expect_near_all(series("0: (1), 10: (1.05)", 13), {1, 1.005, 1.01, 1.015, 1.02, 1.025, 1.03, 1.035, 1.04, 1.045,
                                                      1.05, 1.05, 1.05});
  expect_near_all(series("0:(2), 3:(-4)", 5), {2, 0, -2, -4, -4});
  expect_near_all(series("2: (4)", 4), {4, 4, 4, 4});
  // A key beyond max_frames: the last frame takes its value, and the linear fill runs over positions.
  expect_near_all(series("0:(0), 20:(20)", 11), {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20});
}

TEST(KeyFrames, SplinesThroughPolynomialsAreExact) {
  // Three keys make one quadratic piece, four keys one cubic piece (scipy's knot choice).
  expect_near_all(series("0:(0), 2:(4), 4:(16)", 5, Interp::Quadratic), {0, 1, 4, 9, 16});
  expect_near_all(series("0:(0), 1:(1), 3:(27), 4:(64)", 5, Interp::Cubic), {0, 1, 8, 27, 64});
  // Cubic with three keys falls back to Quadratic, Quadratic with two to Linear, as DD.
  expect_near_all(series("0:(0), 2:(4), 4:(16)", 5, Interp::Cubic), {0, 1, 4, 9, 16});
  expect_near_all(series("0:(0), 4:(16)", 5, Interp::Quadratic), {0, 4, 8, 12, 16});
}

TEST(KeyFrames, DDsFallbackForABareNumberAndClearErrors) {
  std::vector<std::string> notes;
  expect_near_all(series("0.5", 3, Interp::Linear, &notes), {0.5, 0.5, 0.5});
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("\"0: (0.5)\""), std::string::npos) << notes[0];
  for (const char* bad : {"abc", "", "0: (1e999)", "0: (0x10)"}) {
    try {
      series(bad, 3);
      ADD_FAILURE() << bad;
    } catch (const SettingsError& e) {
      EXPECT_NE(std::string(e.what()).find("'zoom'"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(plain_motion_value(" 1.25 ", "zoom"), 1.25);
  EXPECT_THROW(plain_motion_value("0: (1)", "zoom"), SettingsError);
}

}  // namespace
