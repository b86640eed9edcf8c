// ResizeRight, MakeCutoutsDango and resample() against manifest sections "resize_cutouts" and
// "image_prompt" (resample.*, the deterministic pieces of the old MakeCutouts and the image-prompt
// target built from them: its CLIP embeddings and its weights w/cutn).
//
// Naming rules for resize_cutouts' expected tensors (everything else comes from the manifest):
//   "<name>" (no dot)              resize_right(x, the expected tensor's H, W)
//   "<p>.padded"                   pad_overview(<p>.input)
//   "<p>.ov<N>[_cut<S>]"           Overview = N, InnerCrop = 0, cut size = the tensor's last dim
//   "<p>.inner<N>[_cut<S>]"        InnerCrop = N, Overview = 0, cut size = the tensor's last dim,
//                                  crops from inner_crop_draws (and from the seed in the procedure)
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <string>

#include "clip/clip_model.h"
#include "clip/preprocess.h"
#include "clip/tokenizer.h"
#include "guidance/augmentations.h"
#include "guidance/cutouts.h"
#include "guidance/resample.h"
#include "guidance/resize_right.h"
#include "guidance/targets.h"
#include "support/fixtures.h"

namespace g = disco::guidance;
using disco::test::expect_close;
using disco::test::Fixture;
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

// prompt.resized_u8 [H, W, 3] uint8 -> [1, 3, H, W] in [-1, 1] (TF.to_tensor * 2 - 1).
torch::Tensor prompt_image(const torch::Tensor& resized_u8) {
  auto img = resized_u8.permute({2, 0, 1}).contiguous().to(torch::kFloat).div(255).unsqueeze(0);
  return img.mul(2).sub(1);
}

// The CLIP file the procedure line of `tensor` names ("<tensor> = ... with <file>.pt").
std::string clip_file_of(const json& section, const std::string& tensor) {
  const std::regex file_re(R"(with (\S+\.pt))");
  for (const auto& line : section.at("procedure")) {
    const auto s = line.get<std::string>();
    std::smatch m;
    if (s.rfind(tensor + " =", 0) == 0 && std::regex_search(s, m, file_re)) return m[1];
  }
  ADD_FAILURE() << "no procedure line says which CLIP model makes " << tensor;
  return "";
}

disco::clip::CLIPTokenizer fixture_tokenizer() {
  std::ifstream f(disco::test::fixture_path(manifest().at("tokenizer").at("file").get<std::string>()));
  const std::string bpe = json::parse(f).at("bpe_file");
  return disco::clip::CLIPTokenizer(disco::test::shared_dir() + "/data/" + bpe.substr(bpe.rfind('/') + 1));
}

}  // namespace

TEST(ResizeCutouts, MatchesReference) {
  const auto& section = manifest().at("resize_cutouts");
  const Fixture t("resize_cutouts");
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
    t.check(actual, name);
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
  const Fixture t("image_prompt");
  const std::regex out_re(R"(resample\.out_(\d+)x(\d+))");
  int checked = 0;
  for (const auto& [name, entry] : section.at("tensors").items()) {
    std::smatch m;
    if (entry.at("role") != "expected" || !std::regex_match(name, m, out_re)) continue;
    const auto& expected = t[name];
    EXPECT_EQ(std::stoll(m[1]), expected.size(-2));
    EXPECT_EQ(std::stoll(m[2]), expected.size(-1));
    auto actual = g::resample(t["resample.x"], expected.size(-2), expected.size(-1));
    t.check(actual, name);
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

// prompt.full_cut = resample(T.Pad(H//4)(to_tensor(resized)*2-1)), fed with the stored resized pixels.
TEST(ImagePrompt, FullCutOfThePaddedPromptMatchesReference) {
  const Fixture t("image_prompt");
  ASSERT_TRUE(t.lists("prompt.full_cut") && t.lists("prompt.resized_u8"))
      << "this fixture set has no prompt.full_cut / prompt.resized_u8";
  const auto img = prompt_image(t["prompt.resized_u8"]);
  const auto& expected = t["prompt.full_cut"];
  auto padded = g::pad_prompt_image(img);
  auto actual = g::resample(g::apply_prompt_crop(padded, {true}), expected.size(-2), expected.size(-1));
  t.check(actual, "prompt.full_cut");
}

// DD's image-prompt target (do_run): encode_image_target = MakeCutouts(cut_size, cutn) of the
// padded prompt (skip_augs: no augmentation), normalised with the CLIP statistics while in
// [-1, 1], encoded; each of the cutn rows is a target of weight w/cutn after the text targets.
// Rows whose crop_draws entry is "full" are the whole padded image: prompt.full_cut_embed. The
// other rows are the crops crop_draws lists (drawn from its seed), encoded the same way.
TEST(ImagePrompt, TargetEmbedsAndWeightsMatchReference) {
  const Fixture t("image_prompt");
  const auto& section = t.sec();
  const auto& draws = section.at("crop_draws");
  const auto& rows = draws.at("rows");
  const auto& columns = draws.at("columns");
  ASSERT_EQ(columns, json({"ch", "normal", "size", "offsetx", "offsety"})) << "crop_draws columns changed";
  const auto cutn = static_cast<int64_t>(rows.size());
  const std::string clip_file = clip_file_of(section, "prompt.full_cut_embed");
  ASSERT_FALSE(clip_file.empty());
  auto model = disco::clip::load_clip(disco::test::fixture_path(clip_file));  // fp32: DD on CPU
  const auto tok = fixture_tokenizer();

  // One text prompt before the image prompt, so that the image rows' w/cutn shows in the
  // normalised weights (image rows alone would normalise to 1/cutn whatever they were).
  const g::TextTarget text{"a lighthouse", 2.0};
  const g::ImageTarget image{prompt_image(t["prompt.resized_u8"]), 3.0};
  g::TargetOptions options;
  options.skip_augs = true;  // the reference's full cut; crop_draws assume nothing else draws
  auto cpu = g::make_cpu_generator(draws.at("seed").get<uint64_t>());
  auto noise = g::make_cpu_generator(0);
  const auto guide = g::make_clip_guide(model, tok, {text}, {image}, options, cpu, noise);
  ASSERT_EQ(guide.cut_size, t.tensors().at("prompt.full_cut").at("shape").back().get<int64_t>());
  ASSERT_EQ(guide.target_embeds.size(0), 1 + cutn);
  ASSERT_EQ(guide.weights.size(0), 1 + cutn);

  // DD: weights = [w_text] + [w_image / cutn] * cutn as float32, divided by |their sum|.
  std::vector<float> w = {static_cast<float>(text.weight)};
  for (int64_t ch = 0; ch < cutn; ++ch) w.push_back(static_cast<float>(image.weight / static_cast<double>(cutn)));
  auto want_w = torch::tensor(w, torch::kFloat);
  want_w = want_w / want_w.sum().abs();
  expect_close(guide.weights, want_w, "image_prompt.target_weights (w/cutn, then /|sum|)", {0, 1e-6});

  const auto embeds = guide.target_embeds.slice(0, 1);  // the image prompt's cutn rows
  const auto padded = g::pad_prompt_image(image.image);
  std::vector<int64_t> full_rows, crop_rows;
  std::vector<torch::Tensor> crop_embeds;
  for (int64_t ch = 0; ch < cutn; ++ch) {
    const auto& row = rows.at(ch);
    ASSERT_EQ(row.at(0).get<int64_t>(), ch);
    if (row.at(1).is_string()) {
      ASSERT_EQ(row.at(1).get<std::string>(), "full") << "crop_draws row " << ch;
      full_rows.push_back(ch);
      continue;
    }
    const g::PromptCrop crop{false, row.at(2).get<int64_t>(), row.at(3).get<int64_t>(), row.at(4).get<int64_t>()};
    torch::NoGradGuard no_grad;
    const auto cut = g::resample(g::apply_prompt_crop(padded, crop), guide.cut_size, guide.cut_size);
    crop_embeds.push_back(model->encode_image(disco::clip::normalize(cut)).to(torch::kFloat));
    crop_rows.push_back(ch);
  }
  ASSERT_FALSE(full_rows.empty()) << "crop_draws lists no full cut";
  const auto tol = tolerance_from(t.tensors().at("prompt.full_cut_embed"));
  const auto full = embeds.index_select(0, torch::tensor(full_rows));
  expect_close(full, t["prompt.full_cut_embed"].expand_as(full),
               "image_prompt.prompt.full_cut_embed (its " + std::to_string(full_rows.size()) + " full rows)", tol);
  if (!crop_rows.empty())
    expect_close(embeds.index_select(0, torch::tensor(crop_rows)), torch::cat(crop_embeds),
                 "image_prompt.crop_draws embeds", tol);
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
