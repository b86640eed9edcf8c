// The MiDaS port against MiDaS v3 + timm 0.6.13 and DD's MiDaS pass (tests/fixtures/midas, made by
// tools/fixtures/make_midas_fixtures.py on CPU, float32): timm's Attention with two heads, the bare
// DPTDepthModel forward on the positional embedding's own grid and on a non-square one, OpenCV's
// INTER_CUBIC resize, and the whole per-frame pass with its intermediates.
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "depth/midas.h"
#include "io/image.h"
#include "io/sha256.h"
#include "io/state_dict.h"
#include "support/files.h"
#include "support/fixtures.h"

namespace {
using namespace disco;
using json = nlohmann::json;

const std::string kMidasDir = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/midas/";

const json& midas_manifest() {
  static const json m = json::parse(std::ifstream(kMidasDir + "manifest.json"));
  return m;
}

// A fixture file, its sha256 checked against the manifest first.
std::string midas_file(const std::string& name) {
  const std::string path = kMidasDir + name;
  EXPECT_EQ(io::sha256_hex(test::slurp(path)), midas_manifest().at("files").at(name).get<std::string>())
      << name << " differs from the manifest: run tools/fixtures/make_midas_fixtures.py again";
  return path;
}

// A tensor entry of a case: its little-endian float32 file, shaped as the manifest says.
torch::Tensor midas_tensor(const json& entry) {
  const std::string bytes = test::slurp(midas_file(entry.at("file")));
  auto t = torch::empty(entry.at("shape").get<std::vector<int64_t>>(), torch::kFloat);
  EXPECT_EQ(bytes.size(), static_cast<size_t>(t.numel()) * sizeof(float)) << entry.at("file");
  if (bytes.size() == static_cast<size_t>(t.numel()) * sizeof(float)) std::memcpy(t.data_ptr<float>(), bytes.data(), bytes.size());
  return t;
}

// actual subsampled as the stored tensor was ([..., ::s, ::s], or [::s, ::s, :] for HWC images).
torch::Tensor midas_strided(const torch::Tensor& actual, const json& entry, bool hwc = false) {
  if (!entry.contains("stride")) return actual;
  const int64_t s = entry.at("stride");
  const int64_t d = hwc ? 0 : actual.dim() - 2;
  return actual.slice(d, 0, actual.size(d), s).slice(d + 1, 0, actual.size(d + 1), s);
}

void midas_check(const torch::Tensor& actual, const json& c, const std::string& name, bool hwc = false) {
  const json& e = c.at("tensors").at(name);
  test::expect_close(midas_strided(actual, e, hwc), midas_tensor(e), c.at("name").get<std::string>() + "." + name,
                     test::tolerance_from(e));
}

const json& midas_case(const std::string& name) {
  for (const auto& c : midas_manifest().at("cases"))
    if (c.at("name") == name) return c;
  throw std::runtime_error("no case " + name + " in tests/fixtures/midas/manifest.json");
}

depth::DPTDepthModel& tiny_midas() {
  static depth::DPTDepthModel model = depth::load_midas(midas_file("tiny_dpt.pt"));
  return model;
}

// The manifest's formula_input: exact in float32 on both sides.
torch::Tensor midas_formula_input(int64_t h, int64_t w) {
  auto c = torch::arange(3, torch::kLong).view({3, 1, 1});
  auto y = torch::arange(h, torch::kLong).view({1, h, 1});
  auto x = torch::arange(w, torch::kLong).view({1, 1, w});
  auto v = (y * y * 3 + x * 5 + c * 11 + y * x).remainder(251).to(torch::kFloat);
  return (v / 125.5f - 1.0f).unsqueeze(0);
}

TEST(MidasParity, TinyModelConfigFromItsStateDict) {
  const json& m = midas_manifest().at("model");
  const auto& c = tiny_midas()->config();
  EXPECT_EQ(c.embed_dim, m.at("embed_dim").get<int64_t>());
  EXPECT_EQ(c.depth, m.at("depth").get<int64_t>());
  EXPECT_EQ(c.num_heads, m.at("heads").get<int64_t>());
  EXPECT_EQ(c.num_classes, m.at("num_classes").get<int64_t>());
  EXPECT_EQ(c.fusion, m.at("fusion_features").get<int64_t>());
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(c.reassemble[i], m.at("reassemble_features")[i].get<int64_t>());
    EXPECT_EQ(c.hooks[i], m.at("hooks")[i].get<int64_t>());
  }
}

TEST(MidasParity, AttentionWithTwoHeadsAsTimm) {
  const json& c = midas_case("attention");
  depth::ViTAttention attn(c.at("dim").get<int64_t>(), c.at("heads").get<int64_t>());
  io::load_state_dict(*attn, io::load_weights_file(midas_file(c.at("weights"))), c.at("weights"));
  torch::NoGradGuard no_grad;
  midas_check(attn(midas_tensor(c.at("tensors").at("input"))), c, "output");
}

class MidasForward : public ::testing::TestWithParam<std::string> {};

TEST_P(MidasForward, MatchesReference) {
  const json& c = midas_case(GetParam());
  torch::NoGradGuard no_grad;
  const auto prediction = tiny_midas()->forward(midas_formula_input(c.at("height"), c.at("width")));
  midas_check(prediction, c, "prediction");
  EXPECT_NEAR(prediction.to(torch::kDouble).sum().item<double>(), c.at("sum").get<double>(),
              1e-5 * std::abs(c.at("sum").get<double>()));
}

INSTANTIATE_TEST_SUITE_P(Cases, MidasForward, ::testing::Values("forward_384x384", "forward_384x448"));

TEST(MidasParity, Cv2CubicResize) {
  for (const auto& c : midas_manifest().at("cases")) {
    if (c.at("kind") != "resize") continue;
    SCOPED_TRACE(c.at("name").get<std::string>());
    const io::Image8 img = io::read_png(midas_file(c.at("image")));
    const auto src = io::to_u8_tensor(img).to(torch::kDouble) / 255.0;
    const auto out = depth::cv2_resize_cubic(src, c.at("width"), c.at("height"));
    midas_check(out.to(torch::kFloat), c, "resized", /*hwc=*/true);
    // Stored as float32 of OpenCV's float64: equal after the same rounding.
    EXPECT_TRUE(torch::equal(out.to(torch::kFloat), midas_tensor(c.at("tensors").at("resized"))));
  }
}

class MidasFrame : public ::testing::TestWithParam<std::string> {};

TEST_P(MidasFrame, PassAsDD) {
  const json& c = midas_case(GetParam());
  const io::Image8 img = io::read_png(midas_file(c.at("image")));
  const auto [w, h] = depth::midas_net_size(img.width, img.height);
  EXPECT_EQ(h, c.at("net_size")[0].get<int64_t>());
  EXPECT_EQ(w, c.at("net_size")[1].get<int64_t>());
  const auto resized = depth::cv2_resize_cubic(io::to_u8_tensor(img).to(torch::kDouble) / 255.0, w, h);
  midas_check(resized.to(torch::kFloat), c, "resized", /*hwc=*/true);
  const auto input = depth::midas_input(img);
  midas_check(input, c, "net_input");
  torch::NoGradGuard no_grad;
  midas_check(tiny_midas()->forward(input.unsqueeze(0)), c, "raw");
  midas_check(depth::midas_prediction(tiny_midas(), img, torch::kCPU), c, "prediction");
}

INSTANTIATE_TEST_SUITE_P(Cases, MidasFrame, ::testing::Values("frame_64x64", "frame_80x48"));

}  // namespace
