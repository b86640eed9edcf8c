#include <gtest/gtest.h>
#include <torch/torch.h>

#include "animation/warp_3d.h"
#include "common/error.h"

namespace {
using namespace disco::animation;
using disco::SettingsError;
using disco::io::Image8;

Image8 ramp_frame(int w, int h) {
  Image8 im{w, h, std::vector<uint8_t>(static_cast<size_t>(w) * h * 3)};
  for (size_t i = 0; i < im.rgb.size(); ++i) im.rgb[i] = static_cast<uint8_t>((i * 29 + i / 5) % 253);
  return im;
}

TEST(Warp3D, ModeNamesAreDDs) {
  EXPECT_EQ(parse_sampling_mode("bicubic"), SamplingMode::Bicubic);
  EXPECT_EQ(parse_sampling_mode("bilinear"), SamplingMode::Bilinear);
  EXPECT_EQ(parse_sampling_mode("nearest"), SamplingMode::Nearest);
  EXPECT_EQ(parse_padding_mode("border"), PaddingMode::Border);
  EXPECT_EQ(parse_padding_mode("reflection"), PaddingMode::Reflection);
  EXPECT_EQ(parse_padding_mode("zeros"), PaddingMode::Zeros);
  EXPECT_THROW(parse_sampling_mode("Bicubic"), SettingsError);
  EXPECT_THROW(parse_sampling_mode("area"), SettingsError);
  EXPECT_THROW(parse_padding_mode("wrap"), SettingsError);
  EXPECT_THROW(parse_padding_mode(""), SettingsError);
}

TEST(Warp3D, DDsMotionSignsAndScale) {
  const CameraMove3D m = dd_3d_camera_move(10, 20, 30, 0, 0, 0);
  EXPECT_FLOAT_EQ(m.T[0][0].item<float>(), -0.05f);
  EXPECT_FLOAT_EQ(m.T[0][1].item<float>(), 0.1f);
  EXPECT_FLOAT_EQ(m.T[0][2].item<float>(), -0.15f);
  EXPECT_TRUE(torch::equal(m.R, torch::eye(3).unsqueeze(0)));
  // 90 degrees about z: pytorch3d's Rz = [[c, -s, 0], [s, c, 0], [0, 0, 1]].
  const auto rz = dd_3d_camera_move(0, 0, 0, 0, 0, 90).R[0];
  EXPECT_NEAR(rz[0][1].item<float>(), -1, 1e-6);
  EXPECT_NEAR(rz[1][0].item<float>(), 1, 1e-6);
}

TEST(Warp3D, NoMotionGivesTheFrameBack) {
  // The +(1/512 - 1e-4) makes up for the truncation: with no motion every byte comes back.
  const Image8 frame = ramp_frame(13, 9);
  const auto depth = torch::full({9, 13}, 1.7f);
  const Image8 out = transform_image_3d(frame, depth, dd_3d_camera_move(0, 0, 0, 0, 0, 0), Warp3DOptions{});
  EXPECT_EQ(out.rgb, frame.rgb);
}

TEST(Warp3D, DepthOfAnotherSizeIsOneClearError) {
  const Image8 frame = ramp_frame(8, 6);
  const auto move = dd_3d_camera_move(0, 0, 10, 0, 0, 0);
  try {
    transform_image_3d(frame, torch::ones({8, 6}), move, Warp3DOptions{});
    FAIL() << "no error for a transposed depth map";
  } catch (const SettingsError& e) {
    EXPECT_NE(std::string(e.what()).find("depth map"), std::string::npos) << e.what();
  }
  EXPECT_THROW(transform_image_3d(frame, torch::ones({1, 6, 8}), move, Warp3DOptions{}), SettingsError);
  EXPECT_THROW(transform_image_3d(frame, torch::ones({6, 8}, torch::kInt), move, Warp3DOptions{}), SettingsError);
}

TEST(Warp3D, CameraSettingsOutOfRangeAreErrors) {
  const auto depth = torch::ones({6, 8});
  const auto move = dd_3d_camera_move(0, 0, 10, 0, 0, 0);
  const auto with = [](double near, double far, double fov) {
    Warp3DOptions o;
    o.near_plane = near, o.far_plane = far, o.fov = fov;
    return o;
  };
  EXPECT_THROW(warp_3d_grid(depth, move, with(200, 200, 40)), SettingsError);
  EXPECT_THROW(warp_3d_grid(depth, move, with(300, 200, 40)), SettingsError);
  EXPECT_THROW(warp_3d_grid(depth, move, with(0, 200, 40)), SettingsError);
  EXPECT_THROW(warp_3d_grid(depth, move, with(200, 10000, 0)), SettingsError);
  EXPECT_THROW(warp_3d_grid(depth, move, with(200, 10000, 180)), SettingsError);
  EXPECT_NO_THROW(warp_3d_grid(depth, move, with(2000, 20000, 60)));
}

TEST(Warp3D, EulerConventionIsChecked) {
  const auto a = torch::zeros({3});
  EXPECT_THROW(euler_angles_to_matrix(a, "XXY"), SettingsError);
  EXPECT_THROW(euler_angles_to_matrix(a, "XY"), SettingsError);
  EXPECT_THROW(euler_angles_to_matrix(a, "XYW"), SettingsError);
  EXPECT_THROW(euler_angles_to_matrix(torch::zeros({2}), "XYZ"), SettingsError);
  EXPECT_NO_THROW(euler_angles_to_matrix(a, "ZYX"));
  EXPECT_NO_THROW(euler_angles_to_matrix(a, "XYX"));
}

}  // namespace
