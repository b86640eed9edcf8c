#include "guidance/augmentations.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "common/error.h"

namespace g = disco::guidance;

TEST(Augmentations, AnimationModeSelectsThePipeline) {
  EXPECT_EQ(g::aug_mode_from_animation_mode("None"), g::AugMode::None);
  EXPECT_EQ(g::aug_mode_from_animation_mode("2D"), g::AugMode::Animation);
  EXPECT_EQ(g::aug_mode_from_animation_mode("3D"), g::AugMode::Animation);
  EXPECT_EQ(g::aug_mode_from_animation_mode("Video Input"), g::AugMode::VideoInput);
  EXPECT_THROW(g::aug_mode_from_animation_mode("video"), disco::SettingsError);
}

TEST(Augmentations, GrayscaleUsesRec601Luma) {
  // One row of a red, a green and a blue pixel.
  auto img = torch::eye(3).view({1, 3, 1, 3});
  auto gray = g::grayscale3(img);
  ASSERT_EQ(gray.sizes(), img.sizes());
  EXPECT_FLOAT_EQ(gray[0][0][0][0].item<float>(), 0.2989f);
  EXPECT_FLOAT_EQ(gray[0][2][0][1].item<float>(), 0.587f);
  EXPECT_FLOAT_EQ(gray[0][1][0][2].item<float>(), 0.114f);
  EXPECT_THROW(g::rgb_to_grayscale(torch::rand({1, 4, 2, 2})), disco::SettingsError);
}

TEST(Augmentations, IdentityAffineAndPerspectiveKeepTheImage) {
  auto x = torch::rand({2, 3, 10, 14});
  EXPECT_TRUE(torch::allclose(g::apply_affine(x, {}, false), x, 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(g::apply_affine(x, {}, true), x));
  const g::Corners corners = {{{0, 0}, {13, 0}, {13, 9}, {0, 9}}};
  EXPECT_TRUE(torch::allclose(g::apply_perspective(x, corners), x, 1e-4, 1e-5));
}

TEST(Augmentations, AffineTranslatesAndRotatesClockwise) {
  auto x = torch::rand({1, 3, 8, 8});
  auto shifted = g::apply_affine(x, {0.0, 1, 0}, true);
  EXPECT_TRUE(torch::equal(shifted.slice(3, 1), x.slice(3, 0, 7)));
  EXPECT_EQ(shifted.select(3, 0).abs().max().item<float>(), 0.f);  // filled with 0
  auto rotated = g::apply_affine(x, {90.0, 0, 0}, true);
  EXPECT_TRUE(torch::equal(rotated, torch::rot90(x, -1, {-2, -1})));
}

TEST(Augmentations, HueShiftsAroundTheColourWheel) {
  auto red = torch::tensor({1.f, 0.f, 0.f}).view({1, 3, 1, 1});
  auto green = g::adjust_hue(red, 1.0 / 3.0);
  EXPECT_TRUE(torch::allclose(green, torch::tensor({0.f, 1.f, 0.f}).view({1, 3, 1, 1}), 1e-5, 1e-5));
  auto x = torch::rand({2, 3, 5, 5});
  EXPECT_TRUE(torch::allclose(g::adjust_hue(x, 0.0), x, 1e-5, 1e-5));
  g::JitterParams only_brightness;
  only_brightness.brightness = 0.5;
  EXPECT_TRUE(torch::allclose(g::apply_jitter(x, only_brightness), x * 0.5));
}

namespace {
// torchvision's _rgb2hsv / _hsv2rgb as written there, with the one-hot einsum that adjust_hue
// replaces by picking values directly.
torch::Tensor hue_by_einsum(const torch::Tensor& x, double hue_factor) {
  auto rgb = x.unbind(-3);
  auto maxc = std::get<0>(x.max(-3)), minc = std::get<0>(x.min(-3));
  auto eqc = maxc == minc;
  auto cr = maxc - minc;
  auto ones = torch::ones_like(maxc);
  auto s = cr / torch::where(eqc, ones, maxc);
  auto crd = torch::where(eqc, ones, cr);
  auto rc = (maxc - rgb[0]) / crd, gc = (maxc - rgb[1]) / crd, bc = (maxc - rgb[2]) / crd;
  auto hr = (maxc == rgb[0]) * (bc - gc);
  auto hg = ((maxc == rgb[1]) & (maxc != rgb[0])) * (2.0 + rc - bc);
  auto hb = ((maxc != rgb[1]) & (maxc != rgb[0])) * (4.0 + gc - rc);
  auto h = torch::remainder(torch::fmod((hr + hg + hb) / 6.0 + 1.0, 1.0) + hue_factor, 1.0);
  auto i_f = torch::floor(h * 6.0);
  auto f = h * 6.0 - i_f;
  auto i = torch::remainder(i_f.to(torch::kInt), 6);
  auto v = maxc;
  auto p = torch::clamp(v * (1.0 - s), 0.0, 1.0);
  auto q = torch::clamp(v * (1.0 - s * f), 0.0, 1.0);
  auto t = torch::clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  auto mask = i.unsqueeze(-3) == torch::arange(6, torch::kLong).view({-1, 1, 1});
  auto a4 = torch::stack({torch::stack({v, q, p, p, t, v}, -3), torch::stack({t, v, v, q, p, p}, -3),
                          torch::stack({p, p, t, v, v, q}, -3)}, -4);
  return torch::einsum("...ijk, ...xijk -> ...xjk", {mask.to(x.scalar_type()), a4});
}
}  // namespace

TEST(Augmentations, HuePicksTheSameValuesAndGradientsAsTorchvisionsEinsum) {
  torch::manual_seed(5);
  auto x = torch::rand({4, 3, 23, 17});
  x.index_put_({0, torch::indexing::Slice(), 0, 0}, 0.5f);  // grey pixels: hue 0, saturation 0
  for (double f : {-0.1, 0.0, 0.07, 0.3}) {
    auto a = x.clone().requires_grad_(true), b = x.clone().requires_grad_(true);
    auto ya = g::adjust_hue(a, f), yb = hue_by_einsum(b, f);
    ASSERT_TRUE(torch::equal(ya, yb)) << f;
    const auto w = torch::randn_like(ya);
    (ya * w).sum().backward();
    (yb * w).sum().backward();
    EXPECT_TRUE(torch::equal(a.grad(), b.grad())) << f;
  }
}

// dd-spec §14: flip rand(1), angle, tx, ty, grayscale rand(1), randperm(4), b, c, s, h — with the
// noise drawn from the other generator in between.
TEST(Augmentations, NonePipelineDrawsInDDOrder) {
  auto x = torch::rand({3, 3, 16, 16});
  auto cpu = g::make_cpu_generator(21), noise = g::make_cpu_generator(99);
  auto out = g::augment(x, g::AugMode::None, cpu, noise);

  auto rc = g::make_cpu_generator(21), rn = g::make_cpu_generator(99);
  auto add_noise = [&](const torch::Tensor& t) { return t + torch::empty_like(t).normal_(0, 1, rn) * 0.01; };
  auto y = x;
  if ((torch::rand({1}, rc) < 0.5).item<bool>()) y = g::hflip(y);
  y = add_noise(y);
  y = g::apply_affine(y, g::draw_affine(16, 16, 10, 0.05, rc), false);
  y = add_noise(y);
  if ((torch::rand({1}, rc) < 0.1).item<bool>()) y = g::grayscale3(y);
  y = add_noise(y);
  y = g::apply_jitter(y, g::draw_jitter(0.1, 0.1, 0.1, 0.1, rc));
  EXPECT_TRUE(torch::equal(out, y));
  EXPECT_EQ(torch::rand({1}, cpu).item<float>(), torch::rand({1}, rc).item<float>());
  EXPECT_EQ(torch::rand({1}, noise).item<float>(), torch::rand({1}, rn).item<float>());
}

TEST(Augmentations, PipelinesKeepShapesAndAreSeeded) {
  auto x = torch::rand({1, 3, 20, 20}).expand({4, 3, 20, 20}).contiguous();  // 4 equal images
  for (auto mode : {g::AugMode::None, g::AugMode::Animation, g::AugMode::VideoInput}) {
    auto a = g::make_cpu_generator(5), b = g::make_cpu_generator(5), c = g::make_cpu_generator(6);
    auto ya = g::augment(x, mode, a, a);
    EXPECT_EQ(ya.sizes(), x.sizes());
    EXPECT_TRUE(torch::equal(ya, g::augment(x, mode, b, b)));
    EXPECT_FALSE(torch::equal(ya, g::augment(x, mode, c, c)));
    EXPECT_FALSE(torch::equal(ya[0], ya[1]));  // noise differs per element
  }
  auto gen = g::make_cpu_generator(1);
  EXPECT_THROW(g::augment(torch::rand({3, 20, 20}), g::AugMode::None, gen, gen), disco::SettingsError);
}

TEST(Augmentations, PerspectiveCornersStayNearTheirCorners) {
  auto gen = g::make_cpu_generator(3);
  for (int i = 0; i < 20; ++i) {
    auto c = g::draw_perspective(40, 60, 0.4, gen);
    EXPECT_LE(c[0][0], 12);  // int(0.4 * 30)
    EXPECT_LE(c[0][1], 8);   // int(0.4 * 20)
    EXPECT_GE(c[1][0], 47);
    EXPECT_GE(c[2][1], 31);
    EXPECT_LE(c[3][0], 12);
  }
}

TEST(Augmentations, RejectsMissingGenerators) {
  at::Generator none;
  auto cpu = g::make_cpu_generator(1);
  auto x = torch::rand({1, 3, 8, 8});
  EXPECT_THROW(g::augment(x, g::AugMode::None, none, cpu), disco::SettingsError);
  EXPECT_THROW(g::augment(x, g::AugMode::None, cpu, none), disco::SettingsError);
}

// apply_augment, together (each operation once for all the blocks that take it) and one by one,
// against augment() block by block with the same generators: the same values and image gradients
// bit for bit, every pipeline,
// with seeds that give the blocks different flips, grays, perspectives and jitter orders; with the
// parameters and noise drawn from one generator (CPU runs) and from two.
TEST(Augmentations, BlocksTogetherEqualBlocksOneByOne) {
  const int64_t blocks = 5, n = 2;
  const auto x = torch::rand({blocks * n, 3, 12, 14});
  std::set<std::string> partial;  // which per-block choices some seed split between the blocks
  const auto note_partial = [&](const std::vector<g::AugDraws>& d, const std::string& what, bool (*taken)(const g::AugDraws&)) {
    int64_t k = 0;
    for (const auto& e : d) k += taken(e) ? 1 : 0;
    if (k > 0 && k < static_cast<int64_t>(d.size())) partial.insert(what);
  };
  for (auto mode : {g::AugMode::None, g::AugMode::Animation, g::AugMode::VideoInput}) {
    for (const bool shared : {true, false}) {
      for (uint64_t seed = 0; seed < 6; ++seed) {
        SCOPED_TRACE(testing::Message() << "mode " << static_cast<int>(mode) << " shared " << shared << " seed " << seed);
        auto cpu_a = g::make_cpu_generator(seed), noise_a = g::make_cpu_generator(seed + 100);
        auto cpu_b = g::make_cpu_generator(seed), noise_b = g::make_cpu_generator(seed + 100);
        auto& gen_noise_a = shared ? cpu_a : noise_a;
        auto& gen_noise_b = shared ? cpu_b : noise_b;
        const auto xa = x.clone().requires_grad_(true), xb = x.clone().requires_grad_(true);
        std::vector<torch::Tensor> one_by_one;
        for (int64_t b = 0; b < blocks; ++b) one_by_one.push_back(g::augment(xa.slice(0, b * n, (b + 1) * n), mode, cpu_a, gen_noise_a));
        const auto expected = torch::cat(one_by_one);

        std::vector<torch::Tensor> noise;
        for (int64_t j = 0; j < g::noise_draws(mode); ++j) noise.push_back(torch::empty_like(x));
        std::vector<g::AugDraws> draws;
        for (int64_t b = 0; b < blocks; ++b) {
          std::vector<torch::Tensor> rows;
          for (const auto& t : noise) rows.push_back(t.slice(0, b * n, (b + 1) * n));
          draws.push_back(g::draw_augment(mode, rows, cpu_b, gen_noise_b));
        }
        note_partial(draws, "flip", [](const g::AugDraws& d) { return d.flip; });
        note_partial(draws, "gray", [](const g::AugDraws& d) { return d.gray; });
        note_partial(draws, "perspective", [](const g::AugDraws& d) { return d.perspective; });
        note_partial(draws, "hue first", [](const g::AugDraws& d) { return d.jitter.order[0] == 3; });
        const auto w = torch::randn(x.sizes());
        const auto ga = torch::autograd::grad({(expected * w).sum()}, {xa}, {}, /*retain_graph=*/true)[0];
        for (const auto how : {g::BlockBatching::Together, g::BlockBatching::OneByOne}) {
          const auto together = g::apply_augment(xb, draws, noise, how);
          ASSERT_EQ(together.sizes(), expected.sizes());
          EXPECT_TRUE(torch::equal(together, expected)) << (together - expected).abs().max().item<float>();
          const auto gb = torch::autograd::grad({(together * w).sum()}, {xb})[0];
          EXPECT_TRUE(torch::equal(ga, gb)) << (ga - gb).abs().max().item<float>();
        }
        EXPECT_EQ(torch::rand({1}, cpu_a).item<float>(), torch::rand({1}, cpu_b).item<float>());
        EXPECT_EQ(torch::rand({1}, gen_noise_a).item<float>(), torch::rand({1}, gen_noise_b).item<float>());
      }
    }
  }
  EXPECT_EQ(partial, (std::set<std::string>{"flip", "gray", "hue first", "perspective"}));
}

TEST(Augmentations, ApplyAugmentRejectsMismatchedBlocksAndNoise) {
  auto gen = g::make_cpu_generator(1);
  const auto x = torch::rand({4, 3, 8, 8});
  std::vector<torch::Tensor> noise = {torch::empty_like(x), torch::empty_like(x), torch::empty_like(x)};
  std::vector<torch::Tensor> half;
  for (const auto& t : noise) half.push_back(t.slice(0, 0, 2));
  const auto d = g::draw_augment(g::AugMode::None, half, gen, gen);
  EXPECT_THROW(g::apply_augment(x, {d, d, d}, noise), disco::SettingsError);  // 4 cuts in 3 blocks
  EXPECT_THROW(g::apply_augment(x, {d, d}, {noise[0], noise[1]}), disco::SettingsError);  // 2 noises for 3
  EXPECT_THROW(g::apply_augment(x, {d, d}, {noise[0], noise[1], half[2]}), disco::SettingsError);
  EXPECT_THROW(g::draw_augment(g::AugMode::VideoInput, half, gen, gen), disco::SettingsError);  // video adds 4
  EXPECT_NO_THROW(g::apply_augment(x, {d, d}, noise));
}
