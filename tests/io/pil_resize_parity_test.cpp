// PNG reader + Pillow-LANCZOS resize against the fixtures: manifest sections "init_image"
// (stretch to side_x x side_y) and "image_prompt" (torchvision shorter-edge rule), bit-exact.
// Every file name, size and tolerance comes from manifest.json.
#include <regex>
#include <string>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "io/image.h"
#include "io/pil_resize.h"
#include "support/fixtures.h"

namespace disco::test {
namespace {

void check_u8(const io::Image8& actual, const Fixture& expected, const std::string& key) {
  ASSERT_TRUE(expected.contains(key)) << key << " missing from the fixture";
  expected.check(io::to_u8_tensor(actual), key);
}

TEST(PilResizeParity, InitImageStretchedWithLanczosIsBitExact) {
  const auto& sec = manifest().at("init_image");
  const Fixture expected("init_image");
  io::Image8 img = io::read_png(fixture_path(png_file_of(sec)));
  int side_x = sec.at("side_x").get<int>(), side_y = sec.at("side_y").get<int>();
  io::Image8 resized = io::resize_lanczos(img, side_x, side_y);
  check_u8(resized, expected, "resized_u8");
}

TEST(PilResizeParity, ImagePromptShorterEdgeResizeIsBitExact) {
  const auto& sec = manifest().at("image_prompt");
  const Fixture expected("image_prompt");
  io::Image8 img = io::read_png(fixture_path(png_file_of(sec)));
  // The section states DD's side sizes in its procedure: "(side_x, side_y) = [X, Y]".
  std::smatch m;
  std::string procedure = sec.at("procedure").dump();
  ASSERT_TRUE(std::regex_search(procedure, m, std::regex(R"(\(side_x, side_y\) = \[(\d+), (\d+)\])")))
      << "image_prompt.procedure does not state (side_x, side_y)";
  int side_x = std::stoi(m[1]), side_y = std::stoi(m[2]);
  io::Image8 resized = io::resize_image_prompt(img, side_x, side_y);
  check_u8(resized, expected, "prompt.resized_u8");
}

}  // namespace
}  // namespace disco::test
