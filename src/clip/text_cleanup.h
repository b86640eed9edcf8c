// Text normalisation of openai/CLIP's simple_tokenizer (models-spec §4), on code points:
//   basic_clean:      ftfy.fix_text -> html.unescape twice -> strip
//   whitespace_clean: every run of \s -> one space, strip
//   then str.lower().
#pragma once
#include <string>

namespace disco::clip {

// Strict UTF-8 (no surrogates, no overlongs). Throws SettingsError naming the byte offset, since the
// text is a prompt the user typed.
std::u32string utf8_decode(const std::string& text);
std::string utf8_encode(const std::u32string& text);
void utf8_append(std::string& out, char32_t cp);

// The part of ftfy 6 fix_text (default config) that does not need mojibake heuristics. See the
// comment in text_cleanup.cpp for exactly what is and is not reproduced.
std::u32string ftfy_lite(const std::u32string& text);

// Python's html.unescape: the full HTML5 named-entity table (with html.unescape's longest-prefix
// rule for entities written without ';'), decimal and hex references with its replacements for
// invalid code points.
std::u32string html_unescape(const std::u32string& text);

// Unicode NFC (canonical decomposition, canonical ordering, canonical composition; Hangul
// algorithmically), with Python's unicodedata tables.
std::u32string nfc(const std::u32string& text);

// Python str.lower(): full lowercase mapping, including U+0130 -> "i\u0307" and the Final_Sigma
// context of U+03A3.
std::u32string python_lower(const std::u32string& text);

// Python str.strip() (str.isspace() characters at both ends).
std::u32string python_strip(const std::u32string& text);

// whitespace_clean: regex.sub(r'\s+', ' ', text).strip().
std::u32string whitespace_clean(const std::u32string& text);

// The whole chain of _Tokenizer.encode before pre-tokenisation:
// whitespace_clean(basic_clean(text)).lower().
std::u32string clean_text(const std::string& utf8_text);

}  // namespace disco::clip
