// The 3D warp's grid_sample modes under DD's setting names (sampling_mode, padding_mode) and its
// camera's limits, in a header of their own so that the settings can use them without libtorch.
#pragma once
#include <string>
#include <utility>
#include <vector>

#include "common/error.h"

namespace disco::animation {

// grid_sample's modes, as torch.grid_sampler numbers them.
enum class SamplingMode { Bilinear = 0, Nearest = 1, Bicubic = 2 };
enum class PaddingMode { Zeros = 0, Border = 1, Reflection = 2 };

// DD's setting strings, in the order its notebook lists them.
inline const std::vector<std::pair<std::string, SamplingMode>>& sampling_mode_names() {
  static const std::vector<std::pair<std::string, SamplingMode>> names = {
      {"bicubic", SamplingMode::Bicubic}, {"bilinear", SamplingMode::Bilinear}, {"nearest", SamplingMode::Nearest}};
  return names;
}
inline const std::vector<std::pair<std::string, PaddingMode>>& padding_mode_names() {
  static const std::vector<std::pair<std::string, PaddingMode>> names = {
      {"border", PaddingMode::Border}, {"reflection", PaddingMode::Reflection}, {"zeros", PaddingMode::Zeros}};
  return names;
}

// The cameras' parameters that FoVPerspectiveCameras can use: SettingsError for near_plane 0
// (its projection becomes 0/0), near_plane >= far_plane, or fov outside (0, 180) degrees.
inline void check_camera_options(double near_plane, double far_plane, double fov) {
  DISCO_CHECK(near_plane != 0, SettingsError,
              "near_plane 0 makes the 3D camera's projection 0/0; give a non-zero near_plane (DD's default: 200).");
  DISCO_CHECK(near_plane < far_plane, SettingsError, "near_plane (", near_plane, ") must be less than far_plane (",
              far_plane, ").");
  DISCO_CHECK(fov > 0 && fov < 180, SettingsError, "fov must be in (0, 180) degrees, got ", fov, ".");
}

}  // namespace disco::animation
