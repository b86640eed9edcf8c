// ResizeRight, MakeCutoutsDango and resample() against manifest sections "resize_cutouts" and
// "image_prompt" (resample.* and the deterministic pieces of the old MakeCutouts).
//
// Naming rules for resize_cutouts' expected tensors (everything else comes from the manifest):
//   "<name>" (no dot)              resize_right(x, the expected tensor's H, W)
//   "<p>.padded"                   pad_overview(<p>.input)
//   "<p>.ov<N>[_cut<S>]"           Overview = N, InnerCrop = 0, cut size = the tensor's last dim
//   "<p>.inner<N>[_cut<S>]"        InnerCrop = N, Overview = 0, cut size = the tensor's last dim,
//                                  crops from inner_crop_draws (and from the seed in the procedure)
#include <gtest/gtest.h>

#include <regex>
#include <string>

#include "guidance/augmentations.h"
#include "guidance/cutouts.h"
#include "guidance/resample.h"
#include "guidance/resize_right.h"
#include "support/fixtures.h"

namespace g = disco::guidance;
using disco::test::expect_close;
using disco::test::load_fixture;
using disco::test::manifest;
using disco::test::tolerance_from;
using nlohmann::json;

namespace {

std::vector<g::InnerCropBox> listed_inner_draws(const json& section) {
  std::vector<g::InnerCropBox> boxes;
  for (const auto& d : section.at("inner_crop_draws"))
    boxes.push_back({d.at("size").get<int64_t>(), d.at("offsetx").get<int64_t>(), d.at("offsety").get<int64_t>(),
                     d.at("gray").get<bool>()});
  return boxes;
}

// The procedure line of the inner-crop case states the seed and the IC settings in Python syntax.
struct InnerProcedure {
  bool found = false;
  uint64_t seed = 0;
  double ic_size_pow = 0, ic_grey_p = 0;
};
InnerProcedure parse_inner_procedure(const json& section) {
  const std::regex seed_re(R"(manual_seed\((\d+)\))"), pow_re(R"(IC_Size_Pow=([0-9.]+))"),
      grey_re(R"(IC_Grey_P=([0-9.]+))");
  for (const auto& line : section.at("procedure")) {
    const auto s = line.get<std::string>();
    std::smatch a, b, c;
    if (std::regex_search(s, a, seed_re) && std::regex_search(s, b, pow_re) && std::regex_search(s, c, grey_re))
      return {true, std::stoull(a[1]), std::stod(b[1]), std::stod(c[1])};
  }
  return {};
}

}  // namespace

TEST(ResizeCutouts, MatchesReference) {
  const auto& section = manifest().at("resize_cutouts");
  auto t = load_fixture(section.at("expected_file").get<std::string>());
  const std::regex ov_re(R"(ov(\d+)(_cut(\d+))?)"), inner_re(R"(inner(\d+)(_cut(\d+))?)");
  int checked = 0;
  for (const auto& [name, entry] : section.at("tensors").items()) {
    if (entry.at("role") != "expected") continue;
    SCOPED_TRACE(name);
    const auto& expected = t[name];
    const int64_t out_h = expected.size(-2), out_w = expected.size(-1);
    const auto dot = name.find('.');
    torch::Tensor actual;
    std::smatch m;
    if (dot == std::string::npos) {
      actual = g::resize_right(t["x"], out_h, out_w);
    } else {
      const std::string prefix = name.substr(0, dot), kind = name.substr(dot + 1);
      const auto& input = t[prefix + ".input"];
      if (kind == "padded") {
        actual = g::pad_overview(input);
      } else if (std::regex_match(kind, m, ov_re)) {
        if (m[3].matched) {
          EXPECT_EQ(std::stoll(m[3]), out_w) << "cut size in the name and shape disagree";
        }
        actual = g::overview_cuts(input, out_w, std::stoll(m[1]));
      } else if (std::regex_match(kind, m, inner_re)) {
        const auto boxes = listed_inner_draws(section);
        ASSERT_EQ(static_cast<int64_t>(boxes.size()), std::stoll(m[1])) << "inner_crop_draws count";
        actual = g::inner_cuts(input, boxes, out_w);
      } else {
        ADD_FAILURE() << "no rule for expected tensor '" << name << "' (see the naming rules above)";
        continue;
      }
    }
    expect_close(actual, expected, "resize_cutouts." + name, tolerance_from(entry));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// libtorch's CPU generator reproduces torch.manual_seed + torch.rand/randint, so the inner crop
// case follows from the seed alone.
TEST(ResizeCutouts, InnerCropDrawsFollowFromTheSeed) {
  const auto& section = manifest().at("resize_cutouts");
  const auto proc = parse_inner_procedure(section);
  ASSERT_TRUE(proc.found) << "no procedure line with manual_seed, IC_Size_Pow and IC_Grey_P";
  auto t = load_fixture(section.at("expected_file").get<std::string>());
  const std::regex inner_re(R"((.*)\.inner(\d+)(_cut(\d+))?)");
  int checked = 0;
  for (const auto& [name, entry] : section.at("tensors").items()) {
    std::smatch m;
    if (!std::regex_match(name, m, inner_re)) continue;
    const auto& input = t[m[1].str() + ".input"];
    const auto& expected = t[name];
    g::DangoCutSettings s;
    s.cut_size = expected.size(-1);
    s.inner_crop = std::stoll(m[2]);
    s.ic_size_pow = proc.ic_size_pow;
    s.ic_grey_p = proc.ic_grey_p;
    auto cpu = g::make_cpu_generator(proc.seed);
    const auto boxes = g::draw_inner_crops(input.size(2), input.size(3), s, cpu);

    auto replay = g::make_cpu_generator(proc.seed);
    const auto& listed = section.at("inner_crop_draws");
    ASSERT_EQ(boxes.size(), listed.size());
    for (size_t i = 0; i < boxes.size(); ++i) {
      const float u = torch::rand({}, replay, torch::kFloat).item<float>();
      torch::randint(0, 2, {}, replay, torch::kLong);  // keep the replay stream aligned: x
      torch::randint(0, 2, {}, replay, torch::kLong);  // and y offsets
      EXPECT_EQ(u, listed[i].at("u").get<float>()) << "u of crop " << i;
      EXPECT_EQ(boxes[i].size, listed[i].at("size").get<int64_t>()) << "size of crop " << i;
      EXPECT_EQ(boxes[i].offsetx, listed[i].at("offsetx").get<int64_t>()) << "offsetx of crop " << i;
      EXPECT_EQ(boxes[i].offsety, listed[i].at("offsety").get<int64_t>()) << "offsety of crop " << i;
      EXPECT_EQ(boxes[i].gray, listed[i].at("gray").get<bool>()) << "gray of crop " << i;
    }
    g::MakeCutoutsDango cutouts(s, g::AugMode::None, /*skip_augs=*/true);
    auto seeded = g::make_cpu_generator(proc.seed);
    expect_close(cutouts(input, seeded, seeded), expected, "resize_cutouts." + name + ".from_seed",
                 tolerance_from(entry));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(ImagePrompt, ResampleMatchesReference) {
  const auto& section = manifest().at("image_prompt");
  auto t = load_fixture(section.at("expected_file").get<std::string>());
  const std::regex out_re(R"(resample\.out_(\d+)x(\d+))");
  int checked = 0;
  for (const auto& [name, entry] : section.at("tensors").items()) {
    std::smatch m;
    if (entry.at("role") != "expected" || !std::regex_match(name, m, out_re)) continue;
    const auto& expected = t[name];
    EXPECT_EQ(std::stoll(m[1]), expected.size(-2));
    EXPECT_EQ(std::stoll(m[2]), expected.size(-1));
    auto actual = g::resample(t["resample.x"], expected.size(-2), expected.size(-1));
    expect_close(actual, expected, "image_prompt." + name, tolerance_from(entry));
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// prompt.full_cut = resample(T.Pad(H//4)(to_tensor(resized)*2-1)), fed with the stored resized pixels.
TEST(ImagePrompt, FullCutOfThePaddedPromptMatchesReference) {
  const auto& section = manifest().at("image_prompt");
  const auto& tensors = section.at("tensors");
  if (!tensors.contains("prompt.full_cut") || !tensors.contains("prompt.resized_u8"))
    GTEST_SKIP() << "this fixture set has no prompt.full_cut / prompt.resized_u8";
  auto t = load_fixture(section.at("expected_file").get<std::string>());
  // [H, W, 3] uint8 -> [1, 3, H, W] in [-1, 1]
  auto img = t["prompt.resized_u8"].permute({2, 0, 1}).contiguous().to(torch::kFloat).div(255).unsqueeze(0);
  img = img.mul(2).sub(1);
  const auto& expected = t["prompt.full_cut"];
  auto padded = g::pad_prompt_image(img);
  auto actual = g::resample(g::apply_prompt_crop(padded, {true}), expected.size(-2), expected.size(-1));
  expect_close(actual, expected, "image_prompt.prompt.full_cut", tolerance_from(tensors.at("prompt.full_cut")));
}

TEST(ImagePrompt, CropDrawsFollowFromTheSeed) {
  const auto& section = manifest().at("image_prompt");
  const auto& draws = section.at("crop_draws");
  const auto& tensors = section.at("tensors");
  // The padded prompt's size and the cut size come from the stored tensors' shapes.
  const auto& hw = tensors.at("prompt.resized_u8").at("shape");
  const int64_t h = hw.at(0).get<int64_t>(), w = hw.at(1).get<int64_t>();
  const int64_t pad = h / 4, padded_h = h + 2 * pad, padded_w = w + 2 * pad;
  const int64_t cut_size = tensors.at("prompt.full_cut").at("shape").back().get<int64_t>();
  const auto& rows = draws.at("rows");
  const auto& columns = draws.at("columns");
  auto col = [&](const std::string& c) {
    for (size_t i = 0; i < columns.size(); ++i)
      if (columns.at(i) == c) return i;
    ADD_FAILURE() << "crop_draws has no column '" << c << "'";
    return size_t{0};
  };
  const size_t c_normal = col("normal"), c_size = col("size"), c_x = col("offsetx"), c_y = col("offsety");
  const auto cutn = static_cast<int64_t>(rows.size());
  auto cpu = g::make_cpu_generator(draws.at("seed").get<uint64_t>());
  auto replay = g::make_cpu_generator(draws.at("seed").get<uint64_t>());
  for (int64_t ch = 0; ch < cutn; ++ch) {
    SCOPED_TRACE("ch " + std::to_string(ch));
    const auto& row = rows.at(ch);
    const auto crop = g::draw_prompt_crop(ch, cutn, padded_h, padded_w, cut_size, cpu);
    if (row.at(c_normal).is_string()) {
      EXPECT_EQ(row.at(c_normal).get<std::string>(), "full");
      EXPECT_TRUE(crop.full);
      continue;
    }
    ASSERT_FALSE(crop.full);
    const float normal = torch::zeros({1}, torch::kFloat).normal_(0.8, 0.3, replay).item<float>();
    torch::randint(0, 2, {}, replay, torch::kLong);
    torch::randint(0, 2, {}, replay, torch::kLong);
    EXPECT_EQ(normal, row.at(c_normal).get<float>());
    EXPECT_EQ(crop.size, row.at(c_size).get<int64_t>());
    EXPECT_EQ(crop.offsetx, row.at(c_x).get<int64_t>());
    EXPECT_EQ(crop.offsety, row.at(c_y).get<int64_t>());
  }
}
