// The 3D warp against DD's own transform_image_3d with pytorch3d-lite (tests/fixtures/warp3d, made
// by tools/fixtures/make_warp3d_fixtures.py on CPU): rotation matrix, translation and both camera
// matrices to 1e-6, the sampling grid to 1e-6, and the 8-bit frame equal or, where bicubic
// rounding differs, 1 level off (each such byte is listed).
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "animation/warp_3d.h"

namespace {
using namespace disco::animation;
using json = nlohmann::json;

const std::string kWarp3dDir = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/warp3d/";

const json& warp3d_manifest() {
  static const json m = json::parse(std::ifstream(kWarp3dDir + "manifest.json"));
  return m;
}

// float.hex strings -> float64 tensor of the given shape (exact).
torch::Tensor hex_tensor(const json& values, std::vector<int64_t> shape) {
  std::vector<double> v;
  for (const auto& s : values) v.push_back(std::strtod(s.get<std::string>().c_str(), nullptr));
  return torch::tensor(v, torch::kDouble).view(shape);
}

// A little-endian float32 file of the given shape.
torch::Tensor read_f32(const std::string& file, std::vector<int64_t> shape) {
  std::ifstream in(kWarp3dDir + file, std::ios::binary);
  auto t = torch::empty(shape, torch::kFloat);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  EXPECT_TRUE(in.good()) << "short or missing fixture file " << file;
  return t;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

CameraMove3D case_camera(const json& c) {
  const auto& t = c.at("translation");
  const auto& r = c.at("rotation_3d");
  return dd_3d_camera_move(t[0], t[1], t[2], r[0], r[1], r[2]);
}

Warp3DOptions case_options(const json& c) {
  Warp3DOptions o;
  o.near_plane = c.at("near_plane");
  o.far_plane = c.at("far_plane");
  o.fov = c.at("fov");
  o.sampling_mode = parse_sampling_mode(c.at("sampling_mode"));
  o.padding_mode = parse_padding_mode(c.at("padding_mode"));
  return o;
}

TEST(Warp3DParity, CameraMoveAndMatricesAsPytorch3d) {
  double worst_r = 0, worst_t = 0, worst_cam = 0;
  for (const auto& c : warp3d_manifest().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const CameraMove3D move = case_camera(c);
    ASSERT_EQ(move.R.sizes(), (std::vector<int64_t>{1, 3, 3}));
    worst_r = std::max(worst_r, max_abs_diff(move.R[0], hex_tensor(c.at("rot_mat_hex"), {3, 3})));
    worst_t = std::max(worst_t, max_abs_diff(move.T[0], hex_tensor(c.at("T_f32_hex"), {3})));
    const Warp3DOptions o = case_options(c);
    const CameraMove3D identity{torch::eye(3).unsqueeze(0), torch::zeros({1, 3})};
    const double d_old = max_abs_diff(full_projection_matrix(identity, o)[0], hex_tensor(c.at("cam_old_hex"), {4, 4}));
    const double d_new = max_abs_diff(full_projection_matrix(move, o)[0], hex_tensor(c.at("cam_new_hex"), {4, 4}));
    EXPECT_LE(d_old, 1e-6);
    EXPECT_LE(d_new, 1e-6);
    worst_cam = std::max({worst_cam, d_old, d_new});
  }
  EXPECT_LE(worst_r, 1e-6);
  EXPECT_LE(worst_t, 1e-6);
  std::cout << "PARITY warp3d rot_mat max abs " << worst_r << ", T " << worst_t << ", camera matrices " << worst_cam
            << "\n";
}

TEST(Warp3DParity, SamplingGridAsDD) {
  double worst = 0;
  for (const auto& c : warp3d_manifest().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const int64_t h = c.at("h"), w = c.at("w");
    const auto depth = read_f32(c.at("depth"), {h, w});
    const auto grid = warp_3d_grid(depth, case_camera(c), case_options(c));
    ASSERT_EQ(grid.sizes(), (std::vector<int64_t>{1, h, w, 2}));
    const double d = max_abs_diff(grid[0], read_f32(c.at("grid"), {h, w, 2}));
    EXPECT_LE(d, 1e-6);
    worst = std::max(worst, d);
  }
  std::cout << "PARITY warp3d grid max abs " << worst << "\n";
}

TEST(Warp3DParity, EightBitFrameAsDD) {
  ASSERT_GE(warp3d_manifest().at("cases").size(), 20u);
  size_t total_off = 0, total_bytes = 0;
  for (const auto& c : warp3d_manifest().at("cases")) {
    SCOPED_TRACE(c.at("name").get<std::string>());
    const int64_t h = c.at("h"), w = c.at("w");
    const auto src = disco::io::read_png(kWarp3dDir + c.at("input").get<std::string>());
    const auto want = disco::io::read_png(kWarp3dDir + c.at("expected").get<std::string>());
    const auto got = transform_image_3d(src, read_f32(c.at("depth"), {h, w}), case_camera(c), case_options(c));
    ASSERT_EQ(got.rgb.size(), want.rgb.size());
    size_t off = 0;
    for (size_t i = 0; i < got.rgb.size(); ++i) {
      const int d = std::abs(got.rgb[i] - want.rgb[i]);
      if (d == 0) continue;
      ++off;
      const size_t px = i / 3;
      EXPECT_LE(d, 1) << "pixel (x " << px % w << ", y " << px / w << ") channel " << i % 3;
      std::cout << "  1-level difference at x " << px % w << ", y " << px / w << ", channel " << i % 3 << "\n";
    }
    total_off += off;
    total_bytes += got.rgb.size();
  }
  std::cout << "PARITY warp3d frames: " << total_off << " of " << total_bytes << " bytes differ from DD's\n";
}

}  // namespace
