// "text:weight" parsing (DD's parse_prompt), step-keyed prompt schedules and weight normalisation.
#include "disco/prompts.h"

#include <functional>

#include <gtest/gtest.h>

#include "common/error.h"

namespace disco {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const SettingsError& e) {
    return e.what();
  }
  return "";
}

TEST(ParsePrompt, SplitsOnTheLastColonOnly) {
  Prompt p = parse_prompt("a lighthouse:2");
  EXPECT_EQ(p.text, "a lighthouse");
  EXPECT_EQ(p.weight, 2);
  p = parse_prompt("time: 12:30:0.5");
  EXPECT_EQ(p.text, "time: 12:30");
  EXPECT_EQ(p.weight, 0.5);
  p = parse_prompt("no weight at all");
  EXPECT_EQ(p.text, "no weight at all");
  EXPECT_EQ(p.weight, 1);
}

TEST(ParsePrompt, KeepsTheWeightSuffixInTheEncodedText) {
  // QUIRK(dd-spec §2.8): the whole string, ":5" included, is tokenised.
  Prompt p = parse_prompt("This prompt has weight five:5");
  EXPECT_EQ(p.text, "This prompt has weight five");
  EXPECT_EQ(p.text_to_encode(), "This prompt has weight five:5");
  EXPECT_EQ(p.original, "This prompt has weight five:5");
  EXPECT_EQ(p.weight, 5);
}

TEST(ParsePrompt, ReadsWeightsLikePythonFloat) {
  EXPECT_EQ(parse_prompt("blurry:-1").weight, -1);
  EXPECT_EQ(parse_prompt("x: 2.5 ").weight, 2.5);
  EXPECT_EQ(parse_prompt("x:+.5").weight, 0.5);
  EXPECT_EQ(parse_prompt("x:1e-1").weight, 0.1);
  EXPECT_EQ(parse_prompt("x:3.").weight, 3);
  EXPECT_EQ(parse_prompt("x:1_0").weight, 10);
  EXPECT_NE(error_of([] { parse_prompt("x:1__0"); }), "");
  EXPECT_NE(error_of([] { parse_prompt("x:_1"); }), "");
}

TEST(ParsePrompt, RejectsNonNumericWeightsAsDDDoes) {
  std::string e = error_of([] { parse_prompt("a photo: the sequel"); });
  EXPECT_NE(e.find("\" the sequel\""), std::string::npos) << e;
  EXPECT_NE(e.find("a photo: the sequel:1"), std::string::npos) << e;  // the suggested fix
  EXPECT_NE(error_of([] { parse_prompt("trailing colon:"); }), "");
  EXPECT_NE(error_of([] { parse_prompt("x:nan"); }).find("finite"), std::string::npos);
  EXPECT_NE(error_of([] { parse_prompt("x:inf"); }).find("finite"), std::string::npos);
  EXPECT_NE(error_of([] { parse_prompt("C:\\images\\a.png", "image_prompts"); }).find("image_prompts"),
            std::string::npos);
}

TEST(ParsePrompt, HandlesUrlsLikeDD) {
  Prompt p = parse_prompt("https://example.com/a.png");
  EXPECT_EQ(p.text, "https://example.com/a.png");
  EXPECT_EQ(p.weight, 1);
  p = parse_prompt("https://example.com/a.png:3");
  EXPECT_EQ(p.text, "https://example.com/a.png");
  EXPECT_EQ(p.weight, 3);
  p = parse_prompt("http://host:8080/a.png:0.5");
  EXPECT_EQ(p.text, "http://host:8080/a.png");
  EXPECT_EQ(p.weight, 0.5);
  // DD's rsplit(':', 2) reads "8080/a.png" as the weight here and fails; so do we.
  EXPECT_NE(error_of([] { parse_prompt("http://host:8080/a.png"); }), "");
}

TEST(PromptSchedule, LooksUpTheGreatestKeyAtOrBeforeTheStep) {
  auto s = PromptSchedule::from_json(nlohmann::json::parse(R"({"0": ["a:2", "b"], "120": ["c"]})"), "text_prompts");
  ASSERT_EQ(s.at(0).size(), 2u);
  EXPECT_EQ(s.at(0)[0].text, "a");
  EXPECT_EQ(s.at(119).size(), 2u);
  ASSERT_EQ(s.at(120).size(), 1u);
  EXPECT_EQ(s.at(120)[0].text, "c");
  EXPECT_EQ(s.at(100000)[0].text, "c");
  EXPECT_EQ(s.keys(), (std::vector<int64_t>{0, 120}));
}

TEST(PromptSchedule, BackFillsBeforeTheFirstKeyAndAcceptsPlainLists) {
  auto s = PromptSchedule::from_json(nlohmann::json::parse(R"({"50": ["late"]})"), "text_prompts");
  EXPECT_EQ(s.at(0)[0].text, "late");  // DD back-fills its series
  auto l = PromptSchedule::from_json(nlohmann::json::parse(R"(["x:1", "y:-0.5"])"), "text_prompts");
  EXPECT_EQ(l.keys(), (std::vector<int64_t>{0}));
  EXPECT_EQ(l.at(7)[1].weight, -0.5);
  EXPECT_TRUE(PromptSchedule::from_json(nlohmann::json::object(), "image_prompts").at(3).empty());
  auto round = PromptSchedule::from_json(s.to_json(), "text_prompts");
  EXPECT_EQ(round, s);
}

TEST(PromptSchedule, RejectsBadKeysAndValues) {
  EXPECT_NE(error_of([] { PromptSchedule::from_json(nlohmann::json::parse(R"({"-1": ["a"]})"), "text_prompts"); })
                .find("\"-1\""),
            std::string::npos);
  EXPECT_NE(error_of([] { PromptSchedule::from_json(nlohmann::json::parse(R"({"first": ["a"]})"), "text_prompts"); }),
            "");
  EXPECT_NE(error_of([] { PromptSchedule::from_json(nlohmann::json::parse(R"({"0": "a"})"), "text_prompts"); }), "");
  EXPECT_NE(error_of([] { PromptSchedule::from_json(nlohmann::json::parse(R"({"0": [1]})"), "text_prompts"); }), "");
  EXPECT_NE(error_of([] { PromptSchedule::from_json(nlohmann::json::parse(R"({"0": ["a"], "00": ["b"]})"), "t"); })
                .find("twice"),
            std::string::npos);
}

TEST(Weights, NormaliseByAbsoluteSumKeepingSigns) {
  auto w = normalize_weights({2, -1, 1}, "test");
  EXPECT_DOUBLE_EQ(w[0], 1.0);
  EXPECT_DOUBLE_EQ(w[1], -0.5);
  EXPECT_DOUBLE_EQ(w[2], 0.5);
  auto n = normalize_weights({-1, -3}, "test");  // |sum| keeps a negative total negative
  EXPECT_DOUBLE_EQ(n[0], -0.25);
  EXPECT_DOUBLE_EQ(n[1], -0.75);
}

TEST(Weights, CancellingWeightsAreAnError) {
  std::string e = error_of([] { normalize_weights({1, -1}, "step 0"); });
  EXPECT_NE(e.find("cancel out"), std::string::npos) << e;
  EXPECT_NE(e.find("Change one weight"), std::string::npos) << e;
  EXPECT_NE(error_of([] { normalize_weights({1, -0.9995}, "s"); }), "");  // |sum| < 1e-3
  EXPECT_EQ(error_of([] { normalize_weights({1, -0.998}, "s"); }), "");
  auto text = PromptSchedule::from_json(nlohmann::json::parse(R"({"0": ["a:1"], "120": ["a:1", "b:-1"]})"), "t");
  e = error_of([&] { check_prompt_weights(text, PromptSchedule(), false); });
  EXPECT_NE(e.find("step 120"), std::string::npos) << e;
  EXPECT_NE(e.find("\"b:-1\""), std::string::npos) << e;
  // An image prompt at step 120 rescues the sum (16 cuts of w/16 each).
  auto images = PromptSchedule::from_json(nlohmann::json::parse(R"({"120": ["init.png:0.5"]})"), "image_prompts");
  EXPECT_EQ(error_of([&] { check_prompt_weights(text, images, false); }), "");
  EXPECT_NE(error_of([] { check_prompt_weights(PromptSchedule(), PromptSchedule(), false); }).find("no prompts"),
            std::string::npos);
}

}  // namespace
}  // namespace disco
