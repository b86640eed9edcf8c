// Key-frame series against DD's own parse_key_frames + get_inbetweens run with pandas
// (tests/fixtures/keyframes, made by tools/fixtures/make_keyframe_fixtures.py): Linear to the
// bit, Quadratic and Cubic (scipy's splines) to 1e-12, and an error wherever DD stops.
#include <cmath>
#include <cstdlib>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "animation/key_frames.h"

namespace {
using namespace disco::animation;
using json = nlohmann::json;

const json& keyframes_manifest() {
  static const json m = json::parse(std::ifstream(std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/keyframes/manifest.json"));
  return m;
}

Interp interp_of(const std::string& name) {
  return name == "Cubic" ? Interp::Cubic : name == "Quadratic" ? Interp::Quadratic : Interp::Linear;
}

TEST(KeyFramesParity, EveryCaseAsDD) {
  ASSERT_GE(keyframes_manifest().at("cases").size(), 40u);
  for (const auto& c : keyframes_manifest().at("cases")) {
    const std::string text = c.at("string");
    const int64_t frames = c.at("max_frames");
    const std::string method = c.value("method_used", json()).is_string() ? c.at("method_used").get<std::string>() : "";
    SCOPED_TRACE("\"" + text + "\", " + std::to_string(frames) + " frames, " + c.at("interp_spline").get<std::string>());
    if (c.at("outcome") == "error") {
      EXPECT_THROW(key_frame_series(text, frames, interp_of(c.at("interp_spline")), "angle"), disco::SettingsError);
      continue;
    }
    std::vector<std::string> notes;
    const auto got = key_frame_series(text, frames, interp_of(c.at("interp_spline")), "angle", &notes);
    EXPECT_EQ(notes.size(), c.at("outcome") == "ok_after_retry" ? 1u : 0u);
    const auto& want = c.at("values_hex");
    ASSERT_EQ(got.size(), want.size());
    for (size_t f = 0; f < want.size(); ++f) {
      const double w = std::strtod(want[f].get<std::string>().c_str(), nullptr);
      if (method == "linear") EXPECT_EQ(got[f], w) << "frame " << f;
      else EXPECT_NEAR(got[f], w, 1e-12 * std::max(1.0, std::abs(w))) << "frame " << f;
    }
  }
}

}  // namespace
