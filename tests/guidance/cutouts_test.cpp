#include "guidance/cutouts.h"

#include <gtest/gtest.h>

#include "common/error.h"
#include "guidance/resize_right.h"

namespace g = disco::guidance;

namespace {
g::DangoCutSettings settings(int64_t cut, int64_t overview, int64_t inner, double pow = 0.5, double grey = 0.2) {
  g::DangoCutSettings s;
  s.cut_size = cut;
  s.overview = overview;
  s.inner_crop = inner;
  s.ic_size_pow = pow;
  s.ic_grey_p = grey;
  return s;
}

// a (from input xa) equals b (from xb) up to float rounding, and so do their gradients w.r.t. the
// inputs under one random cotangent.
void expect_close_with_gradients(const torch::Tensor& a, const torch::Tensor& xa, const torch::Tensor& b,
                                 const torch::Tensor& xb) {
  ASSERT_EQ(a.sizes(), b.sizes());
  EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-6)) << (a - b).abs().max().item<float>();
  const auto w = torch::randn(a.sizes());
  const auto ga = torch::autograd::grad({(a * w).sum()}, {xa})[0];
  const auto gb = torch::autograd::grad({(b * w).sum()}, {xb})[0];
  EXPECT_TRUE(torch::allclose(ga, gb, 1e-5, 1e-5)) << (ga - gb).abs().max().item<float>();
}
}  // namespace

TEST(MakeCutoutsDango, PadsTowardsSquareWithTheOtherDimsAmount) {
  EXPECT_EQ(g::pad_overview(torch::rand({1, 3, 768, 1280})).sizes(), (std::vector<int64_t>{1, 3, 1280, 1280}));
  EXPECT_EQ(g::pad_overview(torch::rand({1, 3, 52, 36})).sizes(), (std::vector<int64_t>{1, 3, 52, 52}));
  EXPECT_EQ(g::pad_overview(torch::rand({1, 3, 40, 57})).sizes(), (std::vector<int64_t>{1, 3, 56, 57}));
  auto p = g::pad_overview(torch::ones({1, 3, 4, 8}));  // 2 black rows top and bottom
  EXPECT_EQ(p[0][0][0].sum().item<float>(), 0.f);
  EXPECT_EQ(p[0][0][2].sum().item<float>(), 8.f);
}

TEST(MakeCutoutsDango, OverviewVariantsFollowDD) {
  auto x = torch::rand({1, 3, 30, 40});
  auto cut = g::resize_right(g::pad_overview(x), 16, 16);
  for (int64_t n = 1; n <= 6; ++n) EXPECT_EQ(g::overview_cuts(x, 16, n).size(0), n);
  auto four = g::overview_cuts(x, 16, 4);
  EXPECT_TRUE(torch::equal(four[0], cut[0]));
  EXPECT_TRUE(torch::equal(four[1][0], four[1][2]));  // gray: equal channels
  EXPECT_TRUE(torch::equal(four[2], cut[0].flip({-1})));
  EXPECT_TRUE(torch::equal(four[3], four[1].flip({-1})));
  auto six = g::overview_cuts(x, 16, 6);
  for (int64_t i = 0; i < 6; ++i) EXPECT_TRUE(torch::equal(six[i], cut[0]));
}

TEST(MakeCutoutsDango, InnerCropsAreSeededAndInRange) {
  const auto s = settings(12, 0, 50, 0.5, 0.0);
  auto a = g::make_cpu_generator(7), b = g::make_cpu_generator(7);
  auto boxes = g::draw_inner_crops(52, 36, s, a);
  auto again = g::draw_inner_crops(52, 36, s, b);
  ASSERT_EQ(boxes.size(), 50u);
  for (size_t i = 0; i < boxes.size(); ++i) {
    EXPECT_EQ(boxes[i].size, again[i].size);
    EXPECT_EQ(boxes[i].offsetx, again[i].offsetx);
    EXPECT_EQ(boxes[i].offsety, again[i].offsety);
    EXPECT_GE(boxes[i].size, 12);  // min(W, H, cut)
    EXPECT_LE(boxes[i].size, 36);  // min(W, H)
    EXPECT_LE(boxes[i].offsetx + boxes[i].size, 36);
    EXPECT_LE(boxes[i].offsety + boxes[i].size, 52);
    EXPECT_EQ(boxes[i].gray, i == 0) << "crop 0 is gray even for IC_Grey_P = 0";
  }
}

TEST(MakeCutoutsDango, SkipAugsGivesOverviewThenInnerCuts) {
  auto x = torch::rand({1, 3, 40, 30});
  g::MakeCutoutsDango make(settings(16, 2, 3), g::AugMode::None, /*skip_augs=*/true);
  auto gen = g::make_cpu_generator(3);
  auto cuts = make(x, gen, gen);
  ASSERT_EQ(cuts.sizes(), (std::vector<int64_t>{5, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(cuts.slice(0, 0, 2), g::overview_cuts(x, 16, 2)));
  auto replay = g::make_cpu_generator(3);
  auto boxes = g::draw_inner_crops(40, 30, make.settings(), replay);
  EXPECT_TRUE(torch::equal(cuts.slice(0, 2), g::inner_cuts(x, boxes, 16)));
}

TEST(MakeCutoutsDango, AugmentedCutsAreDeterministicPerSeedAndInUnitRange) {
  auto x = torch::rand({1, 3, 40, 30});
  g::MakeCutoutsDango make(settings(16, 4, 2));
  auto run = [&](uint64_t seed) {
    auto gen = g::make_cpu_generator(seed);
    return make(x, gen, gen);
  };
  auto a = run(11), b = run(11), c = run(12);
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{6, 3, 16, 16}));
  EXPECT_TRUE(torch::equal(a, b));
  EXPECT_FALSE(torch::equal(a, c));
  EXPECT_GE(a.min().item<float>(), 0.f);  // ColorJitter clamps
  EXPECT_LE(a.max().item<float>(), 1.f);
}

TEST(MakeCutoutsDango, GradientReachesTheImage) {
  auto x = torch::rand({1, 3, 24, 20}, torch::requires_grad());
  g::MakeCutoutsDango make(settings(8, 4, 2));
  auto gen = g::make_cpu_generator(5);
  make(x, gen, gen).sum().backward();
  EXPECT_GT(x.grad().abs().sum().item<float>(), 0.f);
}

TEST(MakeCutoutsDango, RejectsBadSettingsAndInputs) {
  EXPECT_THROW(g::MakeCutoutsDango(settings(0, 4, 0)), disco::SettingsError);
  EXPECT_THROW(g::MakeCutoutsDango(settings(16, 0, 0)), disco::SettingsError);
  EXPECT_THROW(g::MakeCutoutsDango(settings(16, -1, 2)), disco::SettingsError);
  EXPECT_THROW(g::MakeCutoutsDango(settings(16, 0, 2, -1.0)), disco::SettingsError);
  g::MakeCutoutsDango make(settings(16, 1, 1), g::AugMode::None, true);
  auto gen = g::make_cpu_generator(1);
  EXPECT_THROW(make(torch::rand({2, 3, 20, 20}), gen, gen), disco::SettingsError);  // batch of 2
  EXPECT_THROW(make(torch::rand({1, 4, 20, 20}), gen, gen), disco::SettingsError);  // RGBA
  EXPECT_THROW(make(torch::rand({1, 3, 0, 20}), gen, gen), disco::SettingsError);
  // Injected boxes must fit the image and match InnerCrop.
  EXPECT_THROW(make(torch::rand({1, 3, 20, 20}), {{16, 8, 0, false}}, gen, gen), disco::SettingsError);
  EXPECT_THROW(make(torch::rand({1, 3, 20, 20}), {}, gen, gen), disco::SettingsError);
}

// One overview computed up front (as cond_fn does for all cutn batches) gives the same cuts and
// leaves the generators where a plain call leaves them.
TEST(MakeCutoutsDango, GivenOverviewGivesTheSameCuts) {
  g::MakeCutoutsDango make(settings(16, 3, 2, 0.7, 0.5), g::AugMode::None, false);
  const auto input = torch::rand({1, 3, 40, 56});
  auto cpu_a = g::make_cpu_generator(5), noise_a = g::make_cpu_generator(6);
  auto cpu_b = g::make_cpu_generator(5), noise_b = g::make_cpu_generator(6);
  const auto overview = make.overview(input);
  for (int batch = 0; batch < 2; ++batch) {
    const auto plain = make(input, cpu_a, noise_a);
    const auto given = make.with_overview(input, overview, cpu_b, noise_b);
    EXPECT_TRUE(torch::equal(plain, given)) << "batch " << batch;
  }
  EXPECT_THROW(make.with_overview(input, overview.slice(0, 0, 2), cpu_b, noise_b), disco::SettingsError);
}

// Several cutn batches at once (cond_fn's form) against one with_overview call per batch: the same
// cuts and gradient up to the batched resize's float rounding, and the generators left where the
// successive calls leave them, with one shared generator (CPU runs) and with two.
TEST(MakeCutoutsDango, BatchesEqualSuccessiveBatches) {
  const auto input = torch::rand({1, 3, 40, 56});
  for (const bool skip_augs : {false, true}) {
    for (const bool shared : {true, false}) {
      SCOPED_TRACE(testing::Message() << "skip_augs " << skip_augs << " shared " << shared);
      g::MakeCutoutsDango make(settings(16, 3, 2, 0.7, 0.5), g::AugMode::None, skip_augs);
      auto cpu_a = g::make_cpu_generator(5), noise_a = g::make_cpu_generator(6);
      auto cpu_b = g::make_cpu_generator(5), noise_b = g::make_cpu_generator(6);
      auto& gen_noise_a = shared ? cpu_a : noise_a;
      auto& gen_noise_b = shared ? cpu_b : noise_b;
      const auto xa = input.clone().requires_grad_(true), xb = input.clone().requires_grad_(true);
      const auto ov_a = make.overview(xa), ov_b = make.overview(xb);
      std::vector<torch::Tensor> successive;
      for (int batch = 0; batch < 4; ++batch) successive.push_back(make.with_overview(xa, ov_a, cpu_a, gen_noise_a));
      const auto expected = torch::cat(successive);
      const auto together = make.batches(xb, ov_b, 4, cpu_b, gen_noise_b);
      expect_close_with_gradients(together, xb, expected, xa);
      EXPECT_EQ(torch::rand({1}, cpu_a).item<float>(), torch::rand({1}, cpu_b).item<float>());
      EXPECT_EQ(torch::rand({1}, gen_noise_a).item<float>(), torch::rand({1}, gen_noise_b).item<float>());
    }
  }
  g::MakeCutoutsDango make(settings(16, 3, 2, 0.7, 0.5), g::AugMode::None, false);
  auto gen = g::make_cpu_generator(1);
  EXPECT_THROW(make.batches(input, make.overview(input), 0, gen, gen), disco::SettingsError);
}

// The batched inner cuts (two matrix products over the whole image) against the box-by-box
// reference form: the same cuts and the same image gradient up to float rounding, for down- and
// upscaled crops, crops of exactly the cut size (no resize), gray ones, and a box at each corner.
TEST(MakeCutoutsDango, BatchedInnerCutsEqualPerCropCuts) {
  const auto input = torch::rand({1, 3, 40, 56}).mul_(2).sub_(0.5);
  const std::vector<g::InnerCropBox> boxes = {{16, 0, 0, true},  {40, 16, 0, false}, {9, 47, 31, false},
                                              {23, 5, 11, true}, {8, 48, 32, false}, {31, 20, 9, false}};
  for (const int64_t cut : {16, 8}) {
    SCOPED_TRACE(cut);
    const auto x1 = input.clone().requires_grad_(true), x2 = input.clone().requires_grad_(true);
    const auto batched = g::inner_cuts(x1, boxes, cut);
    const auto per_crop = g::inner_cuts_per_crop(x2, boxes, cut);
    expect_close_with_gradients(batched, x1, per_crop, x2);
  }
  // A crop of the cut's size is copied exactly (its resize matrix is the identity).
  const auto same = g::inner_cuts(input, {{16, 3, 7, false}}, 16);
  EXPECT_TRUE(torch::equal(same[0], input[0].slice(1, 7, 23).slice(2, 3, 19)));
  EXPECT_EQ(g::inner_cuts(input, {}, 16).size(0), 0);
  EXPECT_THROW(g::inner_cuts(input, {{16, 50, 0, false}}, 16), disco::SettingsError);
}

// The execution choices a MakeCutoutsDango is given (no process-wide switch): box by box and
// block by block give the default's cuts and gradient up to float rounding, from the same draws;
// a ResizeWeights shared between calls changes nothing.
TEST(MakeCutoutsDango, ExecutionChoicesAreItsOwn) {
  const auto input = torch::rand({1, 3, 40, 56});
  const auto cut = [&](g::CutoutsExecution how, g::ResizeWeights* weights, torch::Tensor& x) {
    const g::MakeCutoutsDango make(settings(16, 2, 3, 0.7, 0.5), g::AugMode::None, false, how, weights);
    auto cpu = g::make_cpu_generator(3);
    x = input.clone().requires_grad_(true);
    return make.batches(x, make.overview(x), 3, cpu, cpu);
  };
  torch::Tensor x_default, x_other;
  const auto plain = cut({}, nullptr, x_default);
  g::ResizeWeights weights;
  for (const g::CutoutsExecution how : {g::CutoutsExecution{true, g::BlockBatching::Auto},
                                        g::CutoutsExecution{false, g::BlockBatching::Together},
                                        g::CutoutsExecution{true, g::BlockBatching::OneByOne}}) {
    SCOPED_TRACE(testing::Message() << "per_crop " << how.per_crop << " blocks " << static_cast<int>(how.blocks));
    for (int call = 0; call < 2; ++call) {
      torch::Tensor x_plain;
      const auto again = cut({}, nullptr, x_plain);
      const auto other = cut(how, &weights, x_other);
      expect_close_with_gradients(other, x_other, again, x_plain);
    }
  }
  torch::Tensor x_kept;
  EXPECT_TRUE(torch::equal(cut({}, &weights, x_kept), plain));
}

TEST(MakeCutouts, PromptCutsHaveTheCutSizeAndFullCutsAreEqual) {
  auto t = torch::rand({1, 3, 64, 82}) * 2 - 1;
  auto padded = g::pad_prompt_image(t);
  EXPECT_EQ(padded.sizes(), (std::vector<int64_t>{1, 3, 96, 114}));
  auto gen = g::make_cpu_generator(9);
  auto cuts = g::make_cutouts_prompt(t, 32, 16, /*skip_augs=*/true, gen, gen);
  ASSERT_EQ(cuts.sizes(), (std::vector<int64_t>{16, 3, 32, 32}));
  EXPECT_TRUE(torch::equal(cuts[13], cuts[15]));
  auto gen2 = g::make_cpu_generator(9);
  auto augmented = g::make_cutouts_prompt(t, 32, 16, /*skip_augs=*/false, gen2, gen2);
  EXPECT_EQ(augmented.sizes(), cuts.sizes());
  EXPECT_FALSE(torch::equal(augmented[13], augmented[15]));  // augmented separately
  EXPECT_THROW(g::make_cutouts_prompt(t, 0, 16, true, gen, gen), disco::SettingsError);
  EXPECT_THROW(g::apply_prompt_crop(padded, {false, 50, 80, 0}), disco::SettingsError);
}
