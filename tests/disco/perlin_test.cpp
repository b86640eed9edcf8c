// Perlin pieces on small, hand-checkable cases (the full DD run is perlin_parity_test.cpp).
#include "disco/perlin.h"

#include <ATen/CPUGeneratorImpl.h>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"

namespace {
at::Generator gen(uint64_t seed) { return at::make_generator<at::CPUGeneratorImpl>(seed); }
}  // namespace

TEST(Perlin, TileIsZeroOnTheGridAndDrawsOneRandnCall) {
  auto g1 = gen(7), g2 = gen(7);
  auto p = disco::perlin(2, 3, 4, g1, torch::kCPU);
  ASSERT_EQ(p.sizes(), (std::vector<int64_t>{8, 12}));
  // Gradient noise vanishes at lattice points (xs = ys = 0 there).
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b) EXPECT_FLOAT_EQ(p[a * 4][b * 4].item<float>(), 0.0f);
  // Exactly one randn([2, w+1, h+1, 1, 1]) was consumed: both generators are now in step.
  torch::randn({2, 3, 4, 1, 1}, g2, torch::kFloat);
  EXPECT_TRUE(torch::equal(torch::randn({5}, g1, torch::kFloat), torch::randn({5}, g2, torch::kFloat)));
}

TEST(Perlin, FusedCpuDotsEqualTheTensorOpsBitForBit) {
  for (auto [w, h, scale] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 64}, {2, 3, 16}, {4, 4, 8}, {3, 1, 1}}) {
    auto g1 = gen(11), g2 = gen(11);
    auto fused = disco::perlin(w, h, scale, g1, torch::kCPU);
    auto ops = disco::perlin(w, h, scale, g2, torch::kCPU, /*fused_on_cpu=*/false);
    EXPECT_TRUE(torch::equal(fused, ops)) << w << "x" << h << " scale " << scale << ": max |diff| "
                                          << (fused - ops).abs().max().item<float>();
  }
}

TEST(Perlin, OctaveSumInPlaceEqualsTheReferencesSumBitForBit) {
  const std::vector<double> octaves = {0.5, 1.5 * 0.5 / 2.25, 0.5 / 2.25, 0.5 / 3.375};
  auto g1 = gen(5), g2 = gen(5);
  auto got = disco::perlin_ms(octaves, 2, 2, /*grayscale=*/false, g1, torch::kCPU);
  std::vector<at::Tensor> channels;
  for (int c = 0; c < 3; ++c) {
    at::Tensor acc;
    int64_t scale = 16, w = 2;
    for (double a : octaves) {  // DD: out = 0.5; out += perlin(...) * oct
      auto p = disco::perlin(w, w, scale, g2, torch::kCPU, /*fused_on_cpu=*/false);
      acc = acc.defined() ? acc.add_(p * a) : (p * a).add(0.5);
      scale /= 2;
      w *= 2;
    }
    channels.push_back(acc);
  }
  EXPECT_TRUE(torch::equal(got, torch::cat(channels)));
}

TEST(Perlin, MultiOctaveShapeAndChannels) {
  auto g = gen(1);
  auto gray = disco::perlin_ms({0.5, 0.25}, 1, 1, true, g, torch::kCPU);
  EXPECT_EQ(gray.sizes(), (std::vector<int64_t>{4, 4}));
  auto color = disco::perlin_ms({0.5, 0.25, 0.125}, 2, 2, false, g, torch::kCPU);
  EXPECT_EQ(color.sizes(), (std::vector<int64_t>{48, 16}));
  EXPECT_FLOAT_EQ(color[0][0].item<float>(), 0.5f);  // the 0.5 start, at a lattice point
}

TEST(Perlin, AutocontrastStretchesEachChannelAndTruncates) {
  disco::io::Image8 img{3, 1, {10, 5, 9, 20, 5, 9, 13, 5, 200}};
  auto out = disco::autocontrast(img);
  // R: lo 10, hi 20, scale 25.5: 13 -> int(76.5) = 76; G constant: unchanged; B 9..200.
  EXPECT_EQ(out.at(0, 0, 0), 0);
  EXPECT_EQ(out.at(0, 1, 0), 255);
  EXPECT_EQ(out.at(0, 2, 0), 76);
  EXPECT_EQ(out.at(0, 0, 1), 5);
  EXPECT_EQ(out.at(0, 2, 2), 255);
  EXPECT_EQ(out.at(0, 0, 2), 0);
}

TEST(Perlin, ModesAndSizes) {
  EXPECT_EQ(disco::perlin_mode_from_string("gray"), disco::PerlinMode::Gray);
  EXPECT_THROW(disco::perlin_mode_from_string("grey"), disco::SettingsError);
  auto g = gen(3);
  // Gray images are R = G = B; a colour image generally is not.
  auto img = disco::create_perlin_noise({0.5, 0.25}, 4, 4, true, 6, 5, g, torch::kCPU);
  ASSERT_EQ(img.width, 6);
  ASSERT_EQ(img.height, 5);
  for (int k = 0; k < 30; ++k) {
    EXPECT_EQ(img.rgb[3 * k], img.rgb[3 * k + 1]);
    EXPECT_EQ(img.rgb[3 * k], img.rgb[3 * k + 2]);
  }
}
