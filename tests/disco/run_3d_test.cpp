// DD's 3D frame loop (dd-spec §11.4-11.6) on the tiny fixture models with a synthetic depth map
// standing in for MiDaS/AdaBins: which frames are diffused, the warp each starts from, turbo's
// skipped frames and blends, the VR eye views, and DD's settings rules (turbo and VR outside 3D:
// tests/app/bad_input_cli_test.cpp). The depth networks have their own parity tests
// (tests/depth); whole 3D runs against DD are replay cases.
#include <filesystem>
#include <map>

#include <gtest/gtest.h>

#include "animation/warp_3d.h"
#include "common/error.h"
#include "disco/run.h"
#include "disco/run_internal.h"
#include "io/image.h"
#include "support/tiny_run.h"

namespace {
namespace fs = std::filesystem;
using disco::io::Image8;

// A depth ramp from 1 (left) to 3 (right): enough relief for the warp to move pixels unevenly.
class RampDepth : public disco::depth::DepthEstimator {
 public:
  int calls = 0;
  at::Tensor estimate(const Image8& image, double) override {
    ++calls;
    return torch::linspace(1, 3, image.width).expand({image.height, image.width}).contiguous();
  }
};

struct Run3D {
  disco::test::TinyRun t;
  std::shared_ptr<RampDepth> depth = std::make_shared<RampDepth>();
  std::map<int, Image8> made;  // each diffused frame as made (progress.png at its last step)
  int frame = 0;

  explicit Run3D(const nlohmann::json& extra) {
    // frames_scale 0: no LPIPS (the tiny run has no VGG file).
    nlohmann::json j = {{"max_frames", 5}, {"frames_skip_steps", "50%"}, {"frames_scale", 0},
                        {"translation_z", "0: (10)"}, {"rotation_3d_y", "0: (1.5)"}, {"translation_x", "0: (3)"}};
    j.update(extra);
    t.settings = disco::merge_settings(t.settings, j, "test");
  }
  disco::RunResult run() {
    auto models = disco::load_models(t.settings, t.options);
    models->depth = depth;
    disco::Settings s = disco::merge_settings(t.settings, {{"animation_mode", "3D"}}, "test");
    disco::Callbacks cb;
    cb.on_log = [&](const std::string& line) {
      if (line.rfind("frame ", 0) == 0 && line.find('/') != std::string::npos) frame = std::stoi(line.substr(6)) - 1;
    };
    cb.on_preview = [&](const std::string& path, int) { made[frame] = disco::io::read_png(path); };
    return disco::run(s, t.options, cb, models);
  }
  // The frame's camera: the settings' motion is the same every frame.
  disco::animation::CameraMove3D camera() const { return disco::animation::dd_3d_camera_move(3, 0, 10, 0, 1.5, 0); }
  Image8 warp(const Image8& image) {
    disco::animation::Warp3DOptions o;
    return disco::animation::transform_image_3d(image, depth->estimate(image, 1), camera(), o);
  }
};

// Without turbo every frame is diffused and written as made; frames after the first each warp
// their predecessor once. (That the warp is the init shows in the turbo test's exact blends.)
TEST(Run3D, EveryFrameIsDiffusedAndWrittenAsMade) {
  Run3D r(nlohmann::json{{"max_frames", 3}});
  const disco::RunResult result = r.run();
  ASSERT_EQ(result.images.size(), 3u);
  EXPECT_EQ(result.steps_done, 7 + 2 * 4);
  EXPECT_EQ(r.depth->calls, 2);  // one depth estimate per warp
  for (int f = 0; f < 3; ++f) {
    EXPECT_EQ(fs::path(result.images[f]).filename(), "t(0)_000" + std::to_string(f) + ".png");
    EXPECT_EQ(disco::io::read_png(result.images[f]).rgb, r.made.at(f).rgb) << "frame " << f << " is written as made";
  }
}

// turbo_preroll 1, turbo_steps 2: frames 0, 1, 2 and 4 are diffused, frame 3 is the blend of the
// two warps (weight (3 % 2 + 1) / 2 = 1: the newer warp alone), and every diffused frame after the
// first is written as made * 1/2 + its init (the warp it started from) * 1/2.
TEST(Run3D, TurboSkipsFramesAndBlends) {
  Run3D r({{"turbo_mode", true}, {"turbo_steps", "2"}, {"turbo_preroll", 1}});
  const disco::RunResult result = r.run();
  ASSERT_EQ(result.images.size(), 5u);
  EXPECT_EQ(result.steps_done, 7 + 3 * 4);
  EXPECT_EQ(r.made.count(3), 0u);
  EXPECT_EQ(r.depth->calls, 4 + 3);  // frames 2, 3 and 4 also warp the older sequence
  const auto file = [&](int f) { return disco::io::read_png(result.images[f]); };
  EXPECT_EQ(file(0).rgb, r.made.at(0).rgb);
  const Image8 init1 = r.warp(r.made.at(0));
  EXPECT_EQ(file(1).rgb, disco::animation::add_weighted(r.made.at(1), 0.5, init1, 0.5).rgb);
  EXPECT_EQ(file(2).rgb, disco::animation::add_weighted(r.made.at(2), 0.5, r.warp(r.made.at(1)), 0.5).rgb);
  // The skipped frame's warp becomes the previous frame: frame 4 starts from its warp.
  EXPECT_EQ(file(3).rgb, r.warp(r.made.at(2)).rgb);
  EXPECT_EQ(file(4).rgb, disco::animation::add_weighted(r.made.at(4), 0.5, r.warp(r.warp(r.made.at(2))), 0.5).rgb);
}

TEST(Run3D, VrWritesBothEyeViewsOfEveryFrame) {
  Run3D r({{"vr_mode", true}, {"max_frames", 2}, {"vr_eye_angle", 2.0}, {"vr_ipd", 8.0}, {"steps", 4},
           {"skip_steps", 0}});
  const disco::RunResult result = r.run();
  ASSERT_EQ(result.images.size(), 2u);
  disco::animation::Warp3DOptions o;
  o.spherical = true;
  for (int f = 0; f < 2; ++f) {
    const Image8 frame = disco::io::read_png(result.images[f]);
    const auto depth = r.depth->estimate(frame, 1);
    const double origin = std::cos(2.0 * M_PI / 180) * 8.0 / 2;
    const auto left = disco::animation::transform_image_3d(
        frame, depth, disco::animation::dd_3d_camera_move(-origin, 0, 0, 0, 2.0, 0), o);
    const auto right = disco::animation::transform_image_3d(
        frame, depth, disco::animation::dd_3d_camera_move(origin, 0, 0, 0, -2.0, 0), o);
    const fs::path dir = fs::path(result.images[f]).parent_path();
    EXPECT_EQ(disco::io::read_png((dir / ("frame_000" + std::to_string(f) + "_l.png")).string()).rgb, left.rgb);
    EXPECT_EQ(disco::io::read_png((dir / ("frame_000" + std::to_string(f) + "_r.png")).string()).rgb, right.rgb);
    EXPECT_NE(left.rgb, right.rgb);
  }
}

TEST(Run3D, SettingsRules) {
  const disco::Settings base = disco::merge_settings(disco::Settings{}, {{"animation_mode", "3D"}}, "test");
  const auto refused = [&](const nlohmann::json& j, const std::string& words) {
    try {
      disco::merge_settings(base, j, "test");
      ADD_FAILURE() << j.dump() << " was accepted";
    } catch (const disco::SettingsError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  };
  refused({{"midas_depth_model", "dpt_huge"}}, "one of dpt_large");
  refused({{"midas_depth_model", "midas_v21_small"}}, "not built into disco-cpp yet");
  refused({{"padding_mode", "wrap"}}, "one of border, reflection, zeros");
  refused({{"sampling_mode", "area"}}, "one of bicubic, bilinear, nearest");
  refused({{"near_plane", 500}, {"far_plane", 400}}, "must be less than far_plane");
  refused({{"fov", 180}}, "fov must be in (0, 180)");
  refused({{"midas_weight", 0}}, "3D mode needs MiDaS");
  refused({{"turbo_steps", "7"}}, "one of 2, 3, 4, 5, 6");
  // Outside 3D mode the 3D settings are DD's inert values.
  EXPECT_NO_THROW(disco::merge_settings(disco::Settings{}, {{"fov", 180}, {"midas_weight", 0}}, "test"));
  EXPECT_EQ(disco::merge_settings(base, {{"turbo_steps", 4}}, "test").turbo_steps, "4");
}

}  // namespace
