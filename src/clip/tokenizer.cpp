// clip.simple_tokenizer.SimpleTokenizer + clip.tokenize, models-spec §4.
#include "clip/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <limits>

#include <torch/torch.h>

#include "clip/text_cleanup.h"
#include "clip/unicode_tables.h"
#include "common/error.h"
#include "common/strings.h"
#include "io/gzip.h"

namespace disco::clip {

namespace {

// Python slice [1 : 49152 - 256 - 2 + 1]: the merges that, with 512 byte symbols and 2 special
// tokens, make the 49,408-entry vocabulary.
constexpr size_t kNumMerges = 49152 - 256 - 2;
constexpr size_t kCacheLimit = 1 << 16;

std::string read_vocabulary(const std::string& path) {
  if (io::is_gzip_file(path)) return io::read_gzip_file(path);
  DISCO_CHECK(!ends_with(path, ".gz"), CheckpointError, "CLIP vocabulary '", path,
              "' is named .gz but is not a gzip file: it is damaged; download bpe_simple_vocab_16e6.txt.gz again.");
  return io::read_file_bytes(path);
}

// Splits on runs of ASCII whitespace, like Python's str.split() on these lines.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
    size_t j = i;
    while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
    if (j > i) out.push_back(line.substr(i, j - i));
    i = j;
  }
  return out;
}

uint64_t pair_key(int32_t a, int32_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint32_t>(b); }

// Regex IGNORECASE equality with an ASCII letter of the pattern ('ſ' folds to 's' in `regex`).
bool ci_equal(char32_t c, char32_t want) {
  return c == want || unicode::simple_lower(c) == want || (want == 's' && c == 0x17F) || (want == 'i' && c == 0x130);
}

size_t match_literal(const std::u32string& s, size_t pos, const char* lit) {
  size_t n = 0;
  for (; lit[n]; ++n)
    if (pos + n >= s.size() || !ci_equal(s[pos + n], static_cast<char32_t>(lit[n]))) return 0;
  return n;
}

}  // namespace

char32_t CLIPTokenizer::byte_to_unicode(uint8_t b) {
  bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
  if (printable) return b;
  // The 68 others, in increasing order, take U+0100, U+0101, ...
  int n = 0;
  for (int x = 0; x < b; ++x)
    if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174))) ++n;
  return 0x100 + n;
}

CLIPTokenizer::CLIPTokenizer(const std::string& vocab_path) {
  const std::string text = read_vocabulary(vocab_path);
  const std::string where = "CLIP vocabulary '" + vocab_path + "'";

  // ids 0..255: byte characters in bytes_to_unicode's insertion order; 256..511 the same + "</w>".
  std::vector<int> order;
  for (int b = 0; b < 256; ++b)
    if (byte_to_unicode(static_cast<uint8_t>(b)) == static_cast<char32_t>(b)) order.push_back(b);
  for (int b = 0; b < 256; ++b)
    if (byte_to_unicode(static_cast<uint8_t>(b)) != static_cast<char32_t>(b)) order.push_back(b);
  decoder_.reserve(kVocabSize);
  for (int b : order) {
    byte_id_[b] = static_cast<int32_t>(decoder_.size());
    std::string sym;
    utf8_append(sym, byte_to_unicode(static_cast<uint8_t>(b)));
    decoder_.push_back(sym);
  }
  for (int i = 0; i < 256; ++i) decoder_.push_back(decoder_[i] + "</w>");
  encoder_.reserve(kVocabSize * 2);
  for (size_t i = 0; i < decoder_.size(); ++i) encoder_.emplace(decoder_[i], static_cast<int32_t>(i));

  // Line 0 is a header, whatever it says; lines 1..48894 are the merges used.
  size_t pos = text.find('\n');
  DISCO_CHECK(pos != std::string::npos, CheckpointError, where,
              " has no line breaks: it is not the BPE merges file; download bpe_simple_vocab_16e6.txt.gz again.");
  merge_rank_.reserve(kNumMerges * 2);
  merges_.reserve(kNumMerges);
  for (size_t rank = 0; rank < kNumMerges; ++rank) {
    const size_t line_no = rank + 1;
    DISCO_CHECK(pos + 1 < text.size(), CheckpointError, where, " ends after ", line_no, " lines, but ",
                kNumMerges + 1, " (a header and ", kNumMerges,
                " merges) are needed: the file is truncated; download bpe_simple_vocab_16e6.txt.gz again.");
    size_t end = text.find('\n', pos + 1);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(pos + 1, end - pos - 1);
    pos = end;
    const std::vector<std::string> f = split_fields(line);
    DISCO_CHECK(f.size() == 2, CheckpointError, where, " line ", line_no + 1, " should be two symbols separated by ",
                "a space, got '", line.substr(0, 80), "': the file is damaged or not the CLIP BPE vocabulary.");
    auto left = encoder_.find(f[0]);
    auto right = encoder_.find(f[1]);
    DISCO_CHECK(left != encoder_.end() && right != encoder_.end(), CheckpointError, where, " line ", line_no + 1,
                " merges '", line, "', but a symbol of it is not produced by an earlier line: the file is damaged ",
                "or not the CLIP BPE vocabulary.");
    const int32_t id = static_cast<int32_t>(decoder_.size());
    DISCO_CHECK(encoder_.emplace(f[0] + f[1], id).second, CheckpointError, where, " line ", line_no + 1,
                " makes the symbol '", f[0] + f[1], "' a second time: the file is damaged or not the CLIP BPE "
                "vocabulary.");
    decoder_.push_back(f[0] + f[1]);
    merge_rank_[pair_key(left->second, right->second)] = static_cast<int32_t>(rank);
    merges_.emplace_back(left->second, right->second);
  }
  try {
    utf8_decode(text.substr(0, pos));  // the reference decodes the file as UTF-8
  } catch (const SettingsError&) {
    throw CheckpointError(where + " is not valid UTF-8: the file is damaged; download it again.");
  }
  for (const char* special : {"<|startoftext|>", "<|endoftext|>"}) {
    encoder_.emplace(special, static_cast<int32_t>(decoder_.size()));
    decoder_.emplace_back(special);
  }
  DISCO_CHECK(vocab_size() == kVocabSize && encoder_.size() == decoder_.size(), CheckpointError, where,
              " gives ", vocab_size(), " distinct symbols instead of ", kVocabSize, ".");
}

const std::string& CLIPTokenizer::token(int32_t id) const {
  DISCO_CHECK(id >= 0 && id < vocab_size(), SettingsError, "CLIP token id ", id, " is outside the vocabulary [0, ",
              vocab_size(), ").");
  return decoder_[id];
}

int32_t CLIPTokenizer::token_id(const std::string& symbol) const {
  auto it = encoder_.find(symbol);
  return it == encoder_.end() ? -1 : it->second;
}

std::vector<std::string> CLIPTokenizer::pre_tokenize(const std::u32string& s) {
  // <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+  (IGNORECASE)
  static const char* const kLiterals[] = {"<|startoftext|>", "<|endoftext|>", "'s", "'t", "'re", "'ve", "'m",
                                          "'ll", "'d"};
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t n = 0;
    for (const char* lit : kLiterals)
      if ((n = match_literal(s, i, lit)) > 0) break;
    if (n == 0) {
      if (unicode::is_letter(s[i])) {
        while (i + n < s.size() && unicode::is_letter(s[i + n])) ++n;
      } else if (unicode::is_number(s[i])) {
        n = 1;
      } else {
        auto other = [](char32_t c) {
          return !unicode::is_regex_space(c) && !unicode::is_letter(c) && !unicode::is_number(c);
        };
        while (i + n < s.size() && other(s[i + n])) ++n;
      }
    }
    if (n == 0) {  // whitespace: never part of a token
      ++i;
      continue;
    }
    out.push_back(utf8_encode(s.substr(i, n)));
    i += n;
  }
  return out;
}

std::vector<int32_t> CLIPTokenizer::bpe(const std::string& pre_token) const {
  if (pre_token == "<|startoftext|>") return {kStartOfText};
  if (pre_token == "<|endoftext|>") return {kEndOfText};
  {
    std::lock_guard<std::mutex> lock(cache_mutex_);
    auto it = cache_.find(pre_token);
    if (it != cache_.end()) return it->second;
  }
  // One symbol per byte, the last one carrying the end-of-word mark.
  std::vector<int32_t> word;
  word.reserve(pre_token.size());
  for (unsigned char b : pre_token) word.push_back(byte_id_[b]);
  word.back() += 256;
  std::vector<int32_t> next;
  while (word.size() > 1) {
    int32_t best = std::numeric_limits<int32_t>::max();
    for (size_t k = 0; k + 1 < word.size(); ++k) {
      auto it = merge_rank_.find(pair_key(word[k], word[k + 1]));
      if (it != merge_rank_.end()) best = std::min(best, it->second);
    }
    if (best == std::numeric_limits<int32_t>::max()) break;
    // Replace every non-overlapping occurrence, left to right, by the merged symbol (id 512 + rank).
    const int32_t merged = 512 + best;
    const auto [left, right] = merges_[best];
    next.clear();
    for (size_t k = 0; k < word.size();) {
      if (k + 1 < word.size() && word[k] == left && word[k + 1] == right) {
        next.push_back(merged);
        k += 2;
      } else {
        next.push_back(word[k++]);
      }
    }
    word.swap(next);
  }
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (cache_.size() >= kCacheLimit) cache_.clear();
  cache_.emplace(pre_token, word);
  return word;
}

std::vector<int32_t> CLIPTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  for (const std::string& piece : pre_tokenize(clean_text(text))) {
    std::vector<int32_t> sub = bpe(piece);
    ids.insert(ids.end(), sub.begin(), sub.end());
  }
  return ids;
}

at::Tensor CLIPTokenizer::tokenize(const std::string& text, int64_t context_length, bool truncate) const {
  return tokenize_batch({text}, context_length, truncate)[0];
}

at::Tensor CLIPTokenizer::tokenize_batch(const std::vector<std::string>& texts, int64_t context_length,
                                         bool truncate) const {
  DISCO_CHECK(context_length >= 2, SettingsError, "CLIP context length must be at least 2 (start and end tokens), got ",
              context_length, ".");
  at::Tensor result = torch::zeros({static_cast<int64_t>(texts.size()), context_length}, torch::kInt32);
  auto acc = result.accessor<int32_t, 2>();
  for (size_t n = 0; n < texts.size(); ++n) {
    std::vector<int32_t> ids{kStartOfText};
    std::vector<int32_t> body = encode(texts[n]);
    ids.insert(ids.end(), body.begin(), body.end());
    ids.push_back(kEndOfText);
    if (static_cast<int64_t>(ids.size()) > context_length) {
      DISCO_CHECK(truncate, SettingsError, "the prompt '", texts[n], "' is too long for CLIP: it has ", ids.size(),
                  " tokens including the start and end tokens, and the limit is ", context_length,
                  " (the context length); shorten the prompt or split it into several weighted prompts.");
      ids.resize(context_length);
      ids.back() = kEndOfText;
    }
    for (size_t k = 0; k < ids.size(); ++k) acc[n][k] = ids[k];
  }
  return result;
}

}  // namespace disco::clip
