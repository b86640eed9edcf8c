// Pillow's Image.resize(size, Image.BICUBIC) against Pillow itself, to the byte: a random 37x23 RGB
// image up, down, one axis at a time and to a few pixels (tests/fixtures/adabins, section
// pil_bicubic, made by tools/fixtures/make_adabins_fixtures.py with Pillow 9.4).
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "io/image.h"
#include "io/pil_resize.h"

namespace disco::io {
namespace {

std::string bicubic_fixture(const std::string& file) {
  return std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/adabins/" + file;
}

TEST(PilBicubicParity, EveryByteAsPillow) {
  const auto manifest = nlohmann::json::parse(std::ifstream(bicubic_fixture("manifest.json")));
  const auto& cases = manifest.at("pil_bicubic");
  const Image8 in = read_png(bicubic_fixture(cases.at("input")));
  ASSERT_FALSE(cases.at("outputs").empty());
  for (const auto& [size, file] : cases.at("outputs").items()) {
    SCOPED_TRACE(size);
    const Image8 expected = read_png(bicubic_fixture(file));
    const Image8 out = resize_bicubic(in, expected.width, expected.height);
    ASSERT_EQ(out.rgb.size(), expected.rgb.size());
    size_t differing = 0;
    for (size_t k = 0; k < out.rgb.size(); ++k) differing += out.rgb[k] != expected.rgb[k];
    EXPECT_EQ(differing, 0u) << "bytes that differ from Pillow's BICUBIC resize to " << size;
  }
}

}  // namespace
}  // namespace disco::io
