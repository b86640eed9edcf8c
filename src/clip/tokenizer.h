// clip.simple_tokenizer.SimpleTokenizer + clip.tokenize, models-spec §4.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <ATen/Tensor.h>

namespace disco::clip {

class CLIPTokenizer {
 public:
  static constexpr int32_t kStartOfText = 49406;
  static constexpr int32_t kEndOfText = 49407;
  static constexpr int64_t kVocabSize = 49408;
  static constexpr int64_t kContextLength = 77;

  // Reads bpe_simple_vocab_16e6.txt.gz (or its decompressed .txt). Throws CheckpointError when the
  // file is missing, not gzip although named .gz, or does not have the structure of §4.
  explicit CLIPTokenizer(const std::string& vocab_path);

  // BPE ids of the cleaned text, without start/end tokens (_Tokenizer.encode).
  std::vector<int32_t> encode(const std::string& text) const;

  // clip.tokenize for one text: int32 [context_length], [SOT] + encode(text) + [EOT], zero-padded.
  // Too long: SettingsError (truncate = false, DD's call) or first context_length ids with the
  // last one replaced by EOT (truncate = true).
  at::Tensor tokenize(const std::string& text, int64_t context_length = kContextLength, bool truncate = false) const;
  // int32 [n, context_length].
  at::Tensor tokenize_batch(const std::vector<std::string>& texts, int64_t context_length = kContextLength,
                            bool truncate = false) const;

  // The vocabulary entry of an id (byte-level string, e.g. "Ġ" for a space) and back (-1 if absent).
  const std::string& token(int32_t id) const;
  int32_t token_id(const std::string& symbol) const;
  int64_t vocab_size() const { return static_cast<int64_t>(decoder_.size()); }

  // The pre-tokens of already cleaned text (UTF-8), as the reference regex finds them.
  static std::vector<std::string> pre_tokenize(const std::u32string& cleaned);
  // bytes_to_unicode: the code point standing for a byte.
  static char32_t byte_to_unicode(uint8_t b);

 private:
  std::vector<int32_t> bpe(const std::string& pre_token) const;

  std::vector<std::string> decoder_;                   // id -> symbol
  std::unordered_map<std::string, int32_t> encoder_;   // symbol -> id
  std::unordered_map<uint64_t, int32_t> merge_rank_;   // (left id << 32 | right id) -> rank
  std::vector<std::pair<int32_t, int32_t>> merges_;  // rank -> (left id, right id)
  int32_t byte_id_[256];                               // byte -> id of its character
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
  mutable std::mutex cache_mutex_;
};

}  // namespace disco::clip
