// AdaBins and DD's per-frame AdaBins pass against the reference (tests/fixtures/adabins, made by
// tools/fixtures/make_adabins_fixtures.py on CPU in float32): a tiny UnetAdaptiveBins checkpoint in
// AdaBins' training layout, its forward (bin_edges, pred), and transform_image_3d's AdaBins part on
// three frames (BICUBIC up, square and not; LANCZOS down): the resized frame to the byte, the
// normalised input exactly, pred, pred of the mirror image and the depth at the frame's size.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "depth/adabins.h"
#include "io/image.h"
#include "io/sha256.h"
#include "support/fixtures.h"

namespace disco::depth {
namespace {
using nlohmann::json;

std::string adabins_fixture(const std::string& file) {
  return std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/adabins/" + file;
}

const json& adabins_manifest() {
  static const json m = json::parse(std::ifstream(adabins_fixture("manifest.json")));
  return m;
}

test::Tolerance adabins_tolerance() { return test::tolerance_from(adabins_manifest().at("tolerance")); }

// {"file", "shape"} of the manifest -> the little-endian float32 tensor.
torch::Tensor read_adabins_f32(const json& entry) {
  std::vector<int64_t> shape = entry.at("shape").get<std::vector<int64_t>>();
  std::ifstream in(adabins_fixture(entry.at("file")), std::ios::binary);
  auto t = torch::empty(shape, torch::kFloat);
  in.read(reinterpret_cast<char*>(t.data_ptr<float>()), static_cast<std::streamsize>(t.numel() * sizeof(float)));
  EXPECT_TRUE(in.good()) << "short or missing fixture file " << entry.at("file");
  return t;
}

// The stored view of a full tensor: [..., ::stride, ::stride].
torch::Tensor strided_like(const torch::Tensor& full, const json& entry) {
  const int64_t s = entry.at("stride");
  return full.slice(-2, 0, c10::nullopt, s).slice(-1, 0, c10::nullopt, s);
}

UnetAdaptiveBins& tiny_adabins() {
  static UnetAdaptiveBins model = load_adabins(adabins_fixture(adabins_manifest().at("model").at("file")));
  return model;
}

// InferenceHelper's normalised input of an 8-bit frame, through the reference's per-value table.
torch::Tensor lut_input(const io::Image8& image) {
  torch::Tensor lut = read_adabins_f32(adabins_manifest().at("normalise_lut"));  // [3, 256]
  torch::Tensor rgb = torch::from_blob(const_cast<uint8_t*>(image.rgb.data()), {image.height, image.width, 3},
                                       torch::kUInt8).to(torch::kLong);
  std::vector<torch::Tensor> channels;
  for (int64_t c = 0; c < 3; ++c) channels.push_back(lut[c].index({rgb.select(2, c)}));
  return torch::stack(channels).unsqueeze(0);
}

io::Image8 pass_frame(const json& c) {
  if (c.contains("input")) return io::read_png(adabins_fixture(c.at("input")));
  const json& tile = c.at("tile");
  io::Image8 t = io::read_png(adabins_fixture(tile.at("of")));
  const int nx = tile.at("x"), ny = tile.at("y");
  io::Image8 out{t.width * nx, t.height * ny, std::vector<uint8_t>(size_t(t.width) * nx * t.height * ny * 3)};
  for (int y = 0; y < out.height; ++y)
    for (int x = 0; x < out.width; ++x)
      for (int ch = 0; ch < 3; ++ch) out.at(y, x, ch) = t.at(y % t.height, x % t.width, ch);
  return out;
}

TEST(AdaBinsParity, FixtureFilesMatchTheManifest) {
  for (const auto& [file, entry] : adabins_manifest().at("files").items())
    EXPECT_EQ(io::sha256_file(adabins_fixture(file)), entry.at("sha256").get<std::string>())
        << file << " differs from tests/fixtures/adabins/manifest.json; rerun tools/fixtures/make_adabins_fixtures.py";
}

TEST(AdaBinsParity, ForwardMatchesUnetAdaptiveBins) {
  const json& m = adabins_manifest().at("model");
  const io::Image8 frame = io::read_png(adabins_fixture(adabins_manifest().at("pass").at("smooth_64x64").at("resized")));
  torch::Tensor x = lut_input(frame);
  ASSERT_EQ(x.sizes(), torch::IntArrayRef(m.at("input_shape").get<std::vector<int64_t>>()));
  torch::NoGradGuard no_grad;
  AdaBinsOutput out = tiny_adabins()->forward(x);
  test::expect_close(out.bin_edges, read_adabins_f32(m.at("bin_edges")), "adabins.model.bin_edges", adabins_tolerance());
  test::expect_close(out.pred, read_adabins_f32(m.at("pred")), "adabins.model.pred", adabins_tolerance());
}

TEST(AdaBinsParity, PerFramePassMatchesTransformImage3d) {
  for (const auto& [name, c] : adabins_manifest().at("pass").items()) {
    SCOPED_TRACE(name);
    const io::Image8 frame = pass_frame(c);
    ASSERT_EQ(frame.width, c.at("size")[0].get<int>());
    const AdaBinsTrace t = adabins_depth_trace(tiny_adabins(), frame, torch::kCPU);
    EXPECT_EQ(t.input_image.width, c.at("resized_size")[0].get<int>());
    EXPECT_EQ(t.input_image.height, c.at("resized_size")[1].get<int>());
    std::string bytes(t.input_image.rgb.begin(), t.input_image.rgb.end());
    EXPECT_EQ(io::sha256_hex(bytes), c.at("resized_sha256").get<std::string>()) << "the resized frame differs from PIL's";
    if (c.contains("resized")) {
      const io::Image8 expected = io::read_png(adabins_fixture(c.at("resized")));
      ASSERT_EQ(t.input_image.rgb.size(), expected.rgb.size());
      size_t differing = 0;
      for (size_t k = 0; k < expected.rgb.size(); ++k) differing += t.input_image.rgb[k] != expected.rgb[k];
      EXPECT_EQ(differing, 0u) << "bytes of the resized frame that differ from PIL's";
    }
    EXPECT_TRUE(torch::equal(t.input, lut_input(t.input_image))) << "the normalised input differs from ToTensor's";
    const std::string p = "adabins.pass." + name;
    test::expect_close(strided_like(t.pred, c.at("pred")), read_adabins_f32(c.at("pred")), p + ".pred", adabins_tolerance());
    test::expect_close(strided_like(t.pred_lr, c.at("pred_lr")), read_adabins_f32(c.at("pred_lr")), p + ".pred_lr",
                       adabins_tolerance());
    ASSERT_EQ(t.depth.sizes(), (std::vector<int64_t>{frame.height, frame.width}));
    test::expect_close(strided_like(t.depth, c.at("depth")), read_adabins_f32(c.at("depth")), p + ".depth",
                       adabins_tolerance());
  }
}

}  // namespace
}  // namespace disco::depth
