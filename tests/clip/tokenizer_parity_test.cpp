// Every case of the manifest's tokenizer fixture (clip.tokenize / _Tokenizer.encode outputs).
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "clip/tokenizer.h"
#include "common/error.h"
#include "support/fixtures.h"

namespace disco::clip {
namespace {

std::string hex_to_bytes(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

at::Tensor as_tensor(const std::vector<int32_t>& v) {
  return torch::tensor(std::vector<int64_t>(v.begin(), v.end()), torch::kInt64).to(torch::kInt32);
}

at::Tensor padded(const nlohmann::json& ids, int64_t context_length) {
  at::Tensor t = torch::zeros({context_length}, torch::kInt32);
  for (size_t i = 0; i < ids.size(); ++i) t[static_cast<int64_t>(i)] = ids[i].get<int32_t>();
  return t;
}

TEST(CLIPTokenizerParity, MatchesEveryFixtureCase) {
  const auto& entry = test::manifest().at("tokenizer");
  std::ifstream f(test::fixture_path(entry.at("file").get<std::string>()));
  ASSERT_TRUE(f) << "cannot open the tokenizer fixture";
  const nlohmann::json cases_file = nlohmann::json::parse(f);
  std::string bpe_file = cases_file.at("bpe_file").get<std::string>();
  const CLIPTokenizer tok(test::shared_dir() + "/data/" + bpe_file.substr(bpe_file.rfind('/') + 1));
  const int64_t context_length = cases_file.at("context_length").get<int64_t>();
  ASSERT_EQ(cases_file.at("sot").get<int32_t>(), CLIPTokenizer::kStartOfText);
  ASSERT_EQ(cases_file.at("eot").get<int32_t>(), CLIPTokenizer::kEndOfText);
  const test::Tolerance exact{0, 0};

  const auto& cases = cases_file.at("cases");
  ASSERT_EQ(cases.size(), entry.at("n_cases").get<size_t>());
  // What a case may hold; anything else is an unhandled case.
  const std::set<std::string> known = {"text", "utf8_hex", "encode", "n_encode", "tokenize", "tokenize_error",
                                       "tokenize_truncate"};
  int passed = 0;
  for (size_t n = 0; n < cases.size(); ++n) {
    const auto& c = cases[n];
    bool handled = true;
    for (const auto& [key, value] : c.items())
      if (!known.count(key)) {
        ADD_FAILURE() << "unhandled case tokenizer case " << n << ": no rule for its key '" << key << "'";
        handled = false;
      }
    if (!handled) continue;
    const std::string text = hex_to_bytes(c.at("utf8_hex").get<std::string>());
    ASSERT_EQ(text, c.at("text").get<std::string>()) << "case " << n << ": utf8_hex and text disagree";
    const std::string name = "tokenizer case " + std::to_string(n);
    std::vector<int32_t> got = tok.encode(text);
    std::vector<int32_t> want = c.at("encode").get<std::vector<int32_t>>();
    if (c.contains("n_encode")) {
      EXPECT_EQ(want.size(), c.at("n_encode").get<size_t>()) << name << " n_encode";
    }
    EXPECT_EQ(got, want) << name << " encode, text '" << text << "'";
    bool ok = got == want;
    if (ok && !got.empty()) test::expect_close(as_tensor(got), as_tensor(want), name + " encode", exact);

    if (c.at("tokenize_error").is_null()) {
      at::Tensor t = tok.tokenize(text, context_length);
      ok = test::expect_close(t, padded(c.at("tokenize"), context_length), name + " tokenize", exact) == 0 && ok;
    } else {
      bool threw = false;
      try {
        tok.tokenize(text, context_length);
      } catch (const SettingsError& e) {
        threw = true;
        // The reference says "Input ... is too long for context length 77"; ours says as much and more.
        const std::string msg = e.what();
        EXPECT_NE(msg.find(std::to_string(context_length)), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::to_string(want.size() + 2) + " tokens"), std::string::npos) << msg;
      }
      EXPECT_TRUE(threw) << name << " is too long and should raise SettingsError";
      at::Tensor t = tok.tokenize(text, context_length, /*truncate=*/true);
      ok = test::expect_close(t, padded(c.at("tokenize_truncate"), context_length), name + " tokenize_truncate",
                              exact) == 0 && threw && ok;
    }
    passed += ok;
  }
  std::printf("tokenizer cases passing: %d / %zu\n", passed, cases.size());
}

}  // namespace
}  // namespace disco::clip
