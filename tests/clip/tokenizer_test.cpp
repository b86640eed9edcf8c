// CLIPTokenizer and its text cleanup against the facts and test vectors of models-spec §4.
#include "clip/tokenizer.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "clip/text_cleanup.h"
#include "common/error.h"
#include "io/gzip.h"
#include "support/fixtures.h"

namespace disco::clip {
namespace {

std::string vocab_path() { return test::shared_dir() + "/data/bpe_simple_vocab_16e6.txt.gz"; }

const CLIPTokenizer& tok() {
  static const CLIPTokenizer t(vocab_path());
  return t;
}

std::vector<int32_t> ids(std::initializer_list<int32_t> l) { return l; }

std::string clean(const std::string& s) { return utf8_encode(clean_text(s)); }

std::string temp_file(const std::string& name, const std::string& bytes) {
  std::string path = ::testing::TempDir() + "/disco_tok_" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

TEST(CLIPTokenizer, BytesToUnicodeMatchesSpecExamples) {
  EXPECT_EQ(CLIPTokenizer::byte_to_unicode(0x20), U'\u0120');
  EXPECT_EQ(CLIPTokenizer::byte_to_unicode('\n'), U'\u010A');
  EXPECT_EQ(CLIPTokenizer::byte_to_unicode(0x00), U'\u0100');
  EXPECT_EQ(CLIPTokenizer::byte_to_unicode(0xAD), U'\u0143');
  EXPECT_EQ(CLIPTokenizer::byte_to_unicode('a'), U'a');
  EXPECT_EQ(tok().token(0), "!");
  EXPECT_EQ(tok().token(93), "~");
  EXPECT_EQ(tok().token(94), "\u00A1");
  EXPECT_EQ(tok().token(187), "\u00FF");
  EXPECT_EQ(tok().token(188), "\u0100");
  EXPECT_EQ(tok().token(220), "\u0120");
  EXPECT_EQ(tok().token(255), "\u0143");
  EXPECT_EQ(tok().token(256), "!</w>");
}

TEST(CLIPTokenizer, EncoderIdsFollowSpecOrder) {
  EXPECT_EQ(tok().vocab_size(), 49408);
  EXPECT_EQ(tok().token_id("in"), 512);
  EXPECT_EQ(tok().token_id("th"), 513);
  EXPECT_EQ(tok().token_id("jekyll</w>"), 49405);
  EXPECT_EQ(tok().token_id("<|startoftext|>"), 49406);
  EXPECT_EQ(tok().token_id("<|endoftext|>"), 49407);
  EXPECT_EQ(tok().token_id("a</w>"), 320);
  EXPECT_EQ(tok().token_id("diagram</w>"), 22697);
  EXPECT_EQ(tok().token_id("dog</w>"), 1929);
  EXPECT_EQ(tok().token_id("cat</w>"), 2368);
  EXPECT_EQ(tok().token_id("not a symbol"), -1);
}

TEST(CLIPTokenizer, EncodesSpecTestVectors) {
  EXPECT_EQ(tok().encode("a diagram"), ids({320, 22697}));
  EXPECT_EQ(tok().encode("It's  2022!!  \n Hello   WORLD:2"), ids({585, 568, 273, 271, 273, 273, 748, 3306, 1002, 281, 273}));
  EXPECT_EQ(tok().encode("don't"), ids({847, 713}));
  EXPECT_EQ(tok().encode("yellow color scheme"), ids({4481, 3140, 9024}));
  EXPECT_EQ(tok().encode("caf\u00E9 na\u00EFve"), ids({15304, 1097, 35689, 563}));
  EXPECT_EQ(tok().encode("<|endoftext|> hi"), ids({49407, 1883}));
  EXPECT_EQ(tok().encode(std::string(30, 'x')), ids({32035, 32035, 32035, 32035, 32035, 32035, 5675, 22819}));
  EXPECT_EQ(tok().encode("A beautiful painting of a singular lighthouse, shining its light across a tumultuous sea of "
                         "blood by greg rutkowski and thomas kinkade, Trending on artstation."),
            ids({320,  1215,  3086,  539,  320,  44009, 13717, 267,  10485, 902,  1395,
                 2500, 320,   764,   1899, 28738, 2102, 539,   3590,  638,   7943,  14973,
                 17649, 537,  3888,  1442, 41130, 267,   6087,  525,   1486,  2631, 269}));
}

TEST(CLIPTokenizer, PreTokenizesWithSpecAlternation) {
  std::vector<std::string> want = {"it", "'s", "2", "0", "2", "2", "!!", "''", "s", "a",
                                   "-",  "b",  "_", "c", "3", ".", "1", "4"};
  EXPECT_EQ(CLIPTokenizer::pre_tokenize(clean_text("it's 2022!! ''s a-b_c 3.14")), want);
  // A special token is recognised only where a match starts, not inside a run of punctuation.
  EXPECT_EQ(CLIPTokenizer::pre_tokenize(U"!!<|endoftext|>"), (std::vector<std::string>{"!!<|", "endoftext", "|>"}));
  // `regex` IGNORECASE folds 'ſ' to 's': the contraction still matches.
  EXPECT_EQ(CLIPTokenizer::pre_tokenize(U"x'\u017Fy"), (std::vector<std::string>{"x", "'\u017F", "y"}));
}

TEST(CLIPTokenizer, WeightSuffixIsTokenizedLikeAnyText) {
  // DD passes "prompt:2" whole to clip.tokenize (dd-spec quirk): ':' and each digit are tokens.
  EXPECT_EQ(CLIPTokenizer::pre_tokenize(clean_text("a cat:2.5")),
            (std::vector<std::string>{"a", "cat", ":", "2", ".", "5"}));
  std::vector<int32_t> with = tok().encode("a cat:2");
  std::vector<int32_t> without = tok().encode("a cat");
  ASSERT_EQ(with.size(), without.size() + 2);
  EXPECT_EQ(with[with.size() - 2], tok().token_id(":</w>"));
  EXPECT_EQ(with.back(), tok().token_id("2</w>"));
  EXPECT_EQ(tok().encode("x:-1"), ids({tok().token_id("x</w>"), tok().token_id(":-</w>"), tok().token_id("1</w>")}));
}

TEST(TextCleanup, CollapsesUnicodeWhitespaceAndStrips) {
  EXPECT_EQ(clean("  Hello \t\n\r\n  World  "), "hello world");
  EXPECT_EQ(clean("a\u00A0b\u3000c\u2003d"), "a b c d");
  EXPECT_EQ(clean(" \t "), "");
}

TEST(TextCleanup, LowercasesLikePython) {
  EXPECT_EQ(clean("MiXeD \u00C9COLE \u0416\u0423\u041A"), "mixed \u00E9cole \u0436\u0443\u043A");
  EXPECT_EQ(clean("\u0130stanbul"), "i\u0307stanbul");  // full lowercase mapping of İ
  // Final sigma: ΟΔΟΣ ΣΑΣ. -> οδος σας.
  EXPECT_EQ(clean("\u039F\u0394\u039F\u03A3 \u03A3\u0391\u03A3."), "\u03BF\u03B4\u03BF\u03C2 \u03C3\u03B1\u03C2.");
  EXPECT_EQ(clean("STRASSE Stra\u00DFe \u1E9E"), "strasse stra\u00DFe \u00DF");
}

TEST(TextCleanup, UnescapesHtmlEntitiesLikeHtmlUnescape) {
  EXPECT_EQ(utf8_encode(html_unescape(U"&amp; &lt; &gt; &quot; &apos; &nbsp;&#39;&#x27;")), "& < > \" ' \u00A0''");
  EXPECT_EQ(utf8_encode(html_unescape(U"&eacutex &amp &ampx &#x41;&#65 &#0; &#128; &#xD800; &unknown; &#1;")),
            "\u00E9x & &x AA \uFFFD \u20AC \uFFFD &unknown; ");
  EXPECT_EQ(utf8_encode(html_unescape(U"&#; &#x; & &; &hearts; &NotNestedGreaterGreater;")),
            "&#; &#x; & &; \u2665 \u2AA2\u0338");
  // ftfy unescapes once (no '<' in the text), then the tokenizer twice more.
  EXPECT_EQ(clean("&amp;amp;amp;"), "&");
  EXPECT_EQ(clean("<b>&amp;amp;amp;"), "<b>&amp;");
  EXPECT_EQ(tok().encode("&amp; &lt;b&gt; html entities"), tok().encode("& <b> html entities"));
}

TEST(TextCleanup, NfcComposesDecomposedText) {
  EXPECT_EQ(clean("cafe\u0301"), "caf\u00E9");
  EXPECT_EQ(tok().encode("cafe\u0301"), tok().encode("caf\u00E9"));
  EXPECT_EQ(utf8_encode(nfc(U"e\u0301\u0323")), "\u1EB9\u0301");  // canonical reordering first
  EXPECT_EQ(utf8_encode(nfc(U"\u1100\u1161\u11A8")), "\uAC01");   // Hangul
  EXPECT_EQ(utf8_encode(nfc(U"\u0415\u0308 \u03B1\u0301")), "\u0401 \u03AC");  // Cyrillic, Greek
  EXPECT_EQ(utf8_encode(nfc(U"\u212B")), "\u00C5");  // singleton decomposition, never recomposed to U+212B
}

TEST(TextCleanup, FtfyLiteFixes) {
  EXPECT_EQ(tok().encode("don\u2019t"), tok().encode("don't"));                   // curly quotes
  EXPECT_EQ(clean("\u201CHi\u201D"), "\"hi\"");
  EXPECT_EQ(clean("\uFB01ne \uFB00"), "fine ff");                                // ligatures
  EXPECT_EQ(clean("\uFF21\uFF22\uFF23\uFF01"), "abc!");                          // full width
  EXPECT_EQ(clean("a\x01" "b\x7F" "c\xEF\xBB\xBF" "d"), "abcd");                 // control chars, BOM
  EXPECT_EQ(clean("\x1B[31mred\x1B[0m"), "red");                                 // terminal escapes
  EXPECT_EQ(clean("\u0093quoted\u0094"), "\"quoted\"");  // C1 -> Windows-1252 quotes, then uncurled
}

TEST(TextCleanup, RejectsInvalidUtf8) {
  EXPECT_THROW(tok().encode("caf\xE9"), SettingsError);
  EXPECT_THROW(tok().encode("\xED\xA0\x80"), SettingsError);  // surrogate
  EXPECT_THROW(tok().encode("\xC0\xAF"), SettingsError);      // overlong
}

TEST(CLIPTokenizer, TokenizePadsAndChecksLength) {
  at::Tensor t = tok().tokenize("a diagram");
  ASSERT_EQ(t.sizes(), (std::vector<int64_t>{77}));
  EXPECT_EQ(t.scalar_type(), at::kInt);
  EXPECT_EQ(t[0].item<int>(), 49406);
  EXPECT_EQ(t[1].item<int>(), 320);
  EXPECT_EQ(t[2].item<int>(), 22697);
  EXPECT_EQ(t[3].item<int>(), 49407);
  EXPECT_EQ(t.slice(0, 4).abs().sum().item<int>(), 0);

  at::Tensor b = tok().tokenize_batch({"a", "a diagram", ""});
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{3, 77}));
  EXPECT_TRUE(b[1].equal(t));
  EXPECT_EQ(b[2][1].item<int>(), 49407);

  std::string longest, too_long;
  for (int i = 0; i < 75; ++i) longest += "a ";
  too_long = longest + "a";
  EXPECT_EQ(tok().tokenize(longest)[76].item<int>(), 49407);
  try {
    tok().tokenize(too_long);
    ADD_FAILURE() << "a 78-token prompt was accepted";
  } catch (const SettingsError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("78 tokens"), std::string::npos) << msg;
    EXPECT_NE(msg.find("77"), std::string::npos) << msg;
    EXPECT_NE(msg.find("shorten"), std::string::npos) << msg;
  }
  at::Tensor tr = tok().tokenize(too_long, 77, /*truncate=*/true);
  EXPECT_EQ(tr[75].item<int>(), 320);
  EXPECT_EQ(tr[76].item<int>(), 49407);
}

TEST(CLIPTokenizer, ReadsDecompressedVocabulary) {
  std::string txt = temp_file("vocab.txt", io::read_gzip_file(vocab_path()));
  CLIPTokenizer t(txt);
  EXPECT_EQ(t.encode("yellow color scheme"), ids({4481, 3140, 9024}));
  EXPECT_EQ(t.token_id("jekyll</w>"), 49405);
  std::remove(txt.c_str());
}

TEST(CLIPTokenizer, RejectsMissingOrDamagedVocabulary) {
  auto expect_error = [](const std::string& path, const std::string& needle) {
    try {
      CLIPTokenizer t(path);
      ADD_FAILURE() << "accepted " << path;
    } catch (const CheckpointError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error("/nonexistent/bpe_simple_vocab_16e6.txt.gz", "cannot open");
  expect_error(temp_file("plain.txt.gz", "not gzip\n"), "not a gzip file");
  std::string gz = io::read_file_bytes(vocab_path());
  expect_error(temp_file("cut.txt.gz", gz.substr(0, gz.size() / 2)), "damaged gzip");
  std::string flipped = gz;
  for (size_t i = 1000; i < 1100; ++i) flipped[i] = static_cast<char>(flipped[i] ^ 0x5A);
  expect_error(temp_file("flipped.txt.gz", flipped), "damaged");
  std::string text = io::read_gzip_file(vocab_path());
  expect_error(temp_file("short.txt", text.substr(0, text.find('\n', 100000) + 1)), "truncated");
  expect_error(temp_file("nolines.txt", "just one line"), "no line breaks");
  expect_error(temp_file("bad.txt", "header\nabc d\n" + text.substr(text.find('\n') + 1)), "not produced by");
}

}  // namespace
}  // namespace disco::clip
