// The 3D warp's grid_sample modes under DD's setting names (sampling_mode, padding_mode), in a
// header of their own so that the settings can name them without libtorch.
#pragma once
#include <string>
#include <utility>
#include <vector>

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

}  // namespace disco::animation
