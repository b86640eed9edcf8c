// What of ftfy is reproduced (ftfy 6 fix_text with its default TextFixerConfig, models-spec §4).
// ftfy is not available to test against here: the list below is written from ftfy 6's documented
// defaults, applied in ftfy's order.
//   reproduced:
//   - unescape_html="auto": when the text has no '<', entities written with ';' ("&amp;", "&#39;",
//     "&#x27;") are unescaped once. (ftfy's extra upper-case aliases like "&EACUTE;" are not.)
//   - remove_terminal_escapes: ESC '[' digits/';' letter sequences are removed.
//   - fix_c1_controls: U+0080..U+009F become their Windows-1252 characters (the five undefined
//     bytes stay), as ftfy's "sloppy-windows-1252" does.
//   - fix_latin_ligatures: the Latin ligatures and digraphs (ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ Ĳ ĳ ŉ Ǳ ǲ ǳ Ǆ ǅ ǆ Ǉ ǈ ǉ Ǌ ǋ ǌ)
//     are spelled out.
//   - fix_character_width: U+3000 and the full-/half-width forms U+FF01..U+FFEF go to their NFKC forms.
//   - uncurl_quotes: U+02BC, U+2018..U+201B -> ', U+201C..U+201F -> ".
//   - fix_line_breaks: \r\n, \r, U+2028, U+2029, U+0085 -> \n.
//   - remove_control_chars: U+0000..U+0008, U+000B, U+000E..U+001F, U+007F, U+206A..U+206F,
//     U+FEFF, U+FFF9..U+FFFC are removed.
//   - normalization="NFC".
//   not reproduced:
//   - fix_encoding (mojibake repair: "cafÃ©" -> "café"), restore_byte_a0, replace_lossy_sequences,
//     decode_inconsistent_utf8: these need ftfy's heuristics and tables; such text keeps its mojibake
//     and tokenizes differently from DD.
//   - fix_surrogates: not needed, the input is validated UTF-8 (it cannot hold surrogates).
//   - ftfy's splitting of very long texts into segments (no effect on the result for prompts).
#include "clip/text_cleanup.h"

#include <algorithm>
#include <cstring>

#include "clip/unicode_tables.h"
#include "common/error.h"

namespace disco::clip {

namespace unicode {

bool in_ranges(const Range* table, size_t size, uint32_t cp) {
  const Range* end = table + size;
  const Range* it = std::upper_bound(table, end, cp, [](uint32_t c, const Range& r) { return c < r.first; });
  return it != table && cp <= (it - 1)->last;
}

uint32_t simple_lower(uint32_t cp) {
  const LowerRun* end = kLower + kLower_size;
  const LowerRun* it =
      std::upper_bound(kLower, end, cp, [](uint32_t c, const LowerRun& r) { return c < r.first; });
  if (it == kLower) return cp;
  --it;
  if (cp > it->last || (cp - it->first) % it->stride != 0) return cp;
  return static_cast<uint32_t>(static_cast<int64_t>(cp) + it->delta);
}

uint32_t combining_class(uint32_t cp) {
  const CombiningRun* end = kCombiningClass + kCombiningClass_size;
  const CombiningRun* it = std::upper_bound(kCombiningClass, end, cp,
                                            [](uint32_t c, const CombiningRun& r) { return c < r.first; });
  return it != kCombiningClass && cp <= (it - 1)->last ? (it - 1)->ccc : 0;
}

}  // namespace unicode

namespace {

using unicode::Decomposition;

const Decomposition* find_decomposition(const Decomposition* table, size_t size, uint32_t cp) {
  const Decomposition* end = table + size;
  const Decomposition* it =
      std::lower_bound(table, end, cp, [](const Decomposition& d, uint32_t c) { return d.cp < c; });
  return it != end && it->cp == cp ? it : nullptr;
}

bool is_ascii_digit(char32_t c) { return c >= '0' && c <= '9'; }
bool is_ascii_alpha(char32_t c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_hex_digit(char32_t c) { return is_ascii_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

const unicode::Entity* find_entity(const std::string& name) {
  const unicode::Entity* end = unicode::kHtmlEntities + unicode::kHtmlEntities_size;
  const unicode::Entity* it = std::lower_bound(
      unicode::kHtmlEntities, end, name,
      [](const unicode::Entity& e, const std::string& n) { return std::strcmp(e.name, n.c_str()) < 0; });
  return it != end && name == it->name ? it : nullptr;
}

void append_utf8_value(std::u32string& out, const char* utf8) { out += utf8_decode(utf8); }

// html.unescape of one numeric reference (digits without '&#', ';').
void append_numeric_charref(std::u32string& out, const std::u32string& digits, bool hex) {
  uint64_t num = 0;
  for (char32_t c : digits) {
    uint32_t v = is_ascii_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10;
    num = std::min<uint64_t>(num * (hex ? 16 : 10) + v, 0x7FFFFFFF);  // saturate: anything huge is invalid
  }
  for (size_t i = 0; i < unicode::kInvalidCharrefs_size; ++i) {
    if (unicode::kInvalidCharrefs[i].from == num) {
      out += static_cast<char32_t>(unicode::kInvalidCharrefs[i].to);
      return;
    }
  }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) {
    out += U'\uFFFD';
    return;
  }
  if (unicode::in_ranges(unicode::kInvalidCodepoints, unicode::kInvalidCodepoints_size, static_cast<uint32_t>(num)))
    return;
  out += static_cast<char32_t>(num);
}

bool ftfy_control_char(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

const char32_t* latin_ligature(char32_t c) {
  switch (c) {
    case 0x0132: return U"IJ";
    case 0x0133: return U"ij";
    case 0x0149: return U"\u02BCn";
    case 0x01F1: return U"DZ";
    case 0x01F2: return U"Dz";
    case 0x01F3: return U"dz";
    case 0x01C4: return U"D\u017D";
    case 0x01C5: return U"D\u017E";
    case 0x01C6: return U"d\u017E";
    case 0x01C7: return U"LJ";
    case 0x01C8: return U"Lj";
    case 0x01C9: return U"lj";
    case 0x01CA: return U"NJ";
    case 0x01CB: return U"Nj";
    case 0x01CC: return U"nj";
    case 0xFB00: return U"ff";
    case 0xFB01: return U"fi";
    case 0xFB02: return U"fl";
    case 0xFB03: return U"ffi";
    case 0xFB04: return U"ffl";
    case 0xFB05: return U"\u017Ft";
    case 0xFB06: return U"st";
    default: return nullptr;
  }
}

// ftfy's unescape_html: only "&name;" / "&#digits;" / "&#xhex;" (1-24 alphanumerics, ';' required).
std::u32string ftfy_unescape_html(const std::u32string& s) {
  std::u32string out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '&') {
      size_t j = i + 1;
      bool numeric = j < s.size() && s[j] == '#';
      if (numeric) ++j;
      size_t k = j;
      while (k < s.size() && k - j < 24 && (is_ascii_digit(s[k]) || is_ascii_alpha(s[k]))) ++k;
      if (k > j && k < s.size() && s[k] == ';') {
        if (!numeric) {
          if (const auto* e = find_entity(utf8_encode(s.substr(j, k - j)) + ";")) {
            append_utf8_value(out, e->value);
            i = k + 1;
            continue;
          }
        } else {
          // html.unescape of the reference, kept verbatim when that leaves it unresolved.
          std::u32string r = html_unescape(s.substr(i, k + 1 - i));
          if (r.find(U';') == std::u32string::npos) {
            out += r;
            i = k + 1;
            continue;
          }
        }
      }
    }
    out += s[i++];
  }
  return out;
}

}  // namespace

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(const std::u32string& text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t c : text) utf8_append(out, c);
  return out;
}

std::u32string utf8_decode(const std::string& text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    unsigned char b = p[i];
    int len = b < 0x80 ? 1 : (b >> 5) == 0x6 ? 2 : (b >> 4) == 0xE ? 3 : (b >> 3) == 0x1E ? 4 : 0;
    bool ok = len > 0 && i + len <= n;
    char32_t cp = len == 1 ? b : len == 2 ? (b & 0x1F) : len == 3 ? (b & 0x0F) : (b & 0x07);
    for (int k = 1; ok && k < len; ++k) {
      ok = (p[i + k] & 0xC0) == 0x80;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    static const char32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMin[len] && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    DISCO_CHECK(ok, SettingsError, "the prompt text is not valid UTF-8 (bad byte sequence at byte ", i,
                "); save the prompt or settings file as UTF-8.");
    out += cp;
    i += len;
  }
  return out;
}

std::u32string ftfy_lite(const std::u32string& input) {
  std::u32string s = input.find(U'<') == std::u32string::npos ? ftfy_unescape_html(input) : input;

  std::u32string t;  // remove_terminal_escapes, fix_c1_controls
  t.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == 0x1B && i + 1 < s.size() && s[i + 1] == '[') {
      size_t j = i + 2;
      while (j < s.size() && (is_ascii_digit(s[j]) || s[j] == ';')) ++j;
      if (j < s.size() && is_ascii_alpha(s[j])) {
        i = j;
        continue;
      }
    }
    char32_t c = s[i];
    if (c >= 0x80 && c <= 0x9F) {
      for (size_t k = 0; k < unicode::kInvalidCharrefs_size; ++k)
        if (unicode::kInvalidCharrefs[k].from == c) c = unicode::kInvalidCharrefs[k].to;
    }
    t += c;
  }

  std::u32string u;  // ligatures, width, quotes, line breaks, control characters
  u.reserve(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    char32_t c = t[i];
    if (const char32_t* lig = latin_ligature(c)) {
      for (const char32_t* q = lig; *q; ++q) {
        char32_t l = *q;
        u += l == 0x02BC ? U'\'' : l;  // uncurl_quotes runs after the ligature fix
      }
      continue;
    }
    if (c == 0x3000 || (c >= 0xFF01 && c <= 0xFFEF)) {
      if (const auto* w = find_decomposition(unicode::kWidth, unicode::kWidth_size, c)) {
        u += static_cast<char32_t>(w->a);
        if (w->b) u += static_cast<char32_t>(w->b);
        continue;
      }
    }
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    if (c >= 0x201C && c <= 0x201F) c = '"';
    if (c == '\r') {
      if (i + 1 < t.size() && t[i + 1] == '\n') ++i;
      c = '\n';
    }
    if (c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
    if (ftfy_control_char(c)) continue;
    u += c;
  }
  return nfc(u);
}

std::u32string html_unescape(const std::u32string& s) {
  // re.sub(r'&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)', ...)
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] != '&') {
      out += s[i++];
      continue;
    }
    size_t j = i + 1;
    if (j < s.size() && s[j] == '#') {
      bool hex = j + 1 < s.size() && (s[j + 1] == 'x' || s[j + 1] == 'X');
      size_t k = j + 1;
      size_t digits_start = k;
      while (k < s.size() && is_ascii_digit(s[k])) ++k;
      if (k == digits_start && hex) {
        digits_start = k = j + 2;
        while (k < s.size() && is_hex_digit(s[k])) ++k;
      } else {
        hex = false;
      }
      if (k > digits_start) {
        append_numeric_charref(out, s.substr(digits_start, k - digits_start), hex);
        i = k < s.size() && s[k] == ';' ? k + 1 : k;
        continue;
      }
      out += s[i++];  // "&#" with no digits: not a reference
      continue;
    }
    size_t k = j;
    auto name_char = [](char32_t c) {
      return c != '\t' && c != '\n' && c != '\f' && c != ' ' && c != '<' && c != '&' && c != '#' && c != ';';
    };
    while (k < s.size() && k - j < 32 && name_char(s[k])) ++k;
    if (k == j) {
      out += s[i++];
      continue;
    }
    if (k < s.size() && s[k] == ';') ++k;
    std::string name = utf8_encode(s.substr(j, k - j));
    i = k;
    if (const auto* e = find_entity(name)) {
      append_utf8_value(out, e->value);
      continue;
    }
    // The longest prefix (at least 2 characters) that is an entity, the rest kept as text.
    std::u32string body = s.substr(j, k - j);
    bool found = false;
    for (size_t x = body.size() - 1; x >= 2 && !found; --x) {
      if (const auto* e = find_entity(utf8_encode(body.substr(0, x)))) {
        append_utf8_value(out, e->value);
        out += body.substr(x);
        found = true;
      }
    }
    if (!found) {
      out += U'&';
      out += body;
    }
  }
  return out;
}

namespace {

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr char32_t kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount, kSCount = kLCount * kNCount;

void decompose(char32_t c, std::u32string& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    char32_t s = c - kSBase;
    out += kLBase + s / kNCount;
    out += kVBase + (s % kNCount) / kTCount;
    if (s % kTCount) out += kTBase + s % kTCount;
    return;
  }
  if (const auto* d = find_decomposition(unicode::kDecomposition, unicode::kDecomposition_size, c)) {
    decompose(d->a, out);
    if (d->b) decompose(d->b, out);
    return;
  }
  out += c;
}

char32_t compose_pair(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase && b < kTBase + kTCount)
    return a + (b - kTBase);
  const auto* end = unicode::kComposition + unicode::kComposition_size;
  const auto* it = std::lower_bound(unicode::kComposition, end, std::make_pair(a, b),
                                    [](const unicode::Composition& c, const std::pair<char32_t, char32_t>& k) {
                                      return c.a != k.first ? c.a < k.first : c.b < k.second;
                                    });
  return it != end && it->a == a && it->b == b ? it->cp : 0;
}

}  // namespace

std::u32string nfc(const std::u32string& text) {
  // Fast path: ASCII is always NFC.
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; })) return text;
  std::u32string d;
  for (char32_t c : text) decompose(c, d);
  // Canonical ordering: stable sort of each run of non-starters by combining class.
  for (size_t i = 0; i < d.size();) {
    if (unicode::combining_class(d[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < d.size() && unicode::combining_class(d[j]) != 0) ++j;
    std::stable_sort(d.begin() + i, d.begin() + j, [](char32_t a, char32_t b) {
      return unicode::combining_class(a) < unicode::combining_class(b);
    });
    i = j;
  }
  std::u32string out;
  out.reserve(d.size());
  long starter = -1;
  uint32_t last_ccc = 0;
  for (char32_t c : d) {
    uint32_t ccc = unicode::combining_class(c);
    if (starter >= 0) {
      bool adjacent = static_cast<long>(out.size()) - 1 == starter;
      bool blocked = !adjacent && (last_ccc == 0 || last_ccc >= ccc);
      if (!blocked) {
        if (char32_t composite = compose_pair(out[starter], c)) {
          out[starter] = composite;
          continue;
        }
      }
    }
    if (ccc == 0) starter = static_cast<long>(out.size());
    last_ccc = ccc;
    out += c;
  }
  return out;
}

std::u32string python_lower(const std::u32string& s) {
  auto cased = [](char32_t c) { return unicode::in_ranges(unicode::kCased, unicode::kCased_size, c); };
  auto ignorable = [](char32_t c) {
    return unicode::in_ranges(unicode::kCaseIgnorable, unicode::kCaseIgnorable_size, c);
  };
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char32_t c = s[i];
    if (c == 0x0130) {
      out += U"i\u0307";
    } else if (c == 0x03A3) {
      // Final_Sigma: cased (case-ignorable)* Σ not followed by (case-ignorable)* cased.
      long j = static_cast<long>(i) - 1;
      while (j >= 0 && ignorable(s[j])) --j;
      bool final_sigma = j >= 0 && cased(s[j]);
      if (final_sigma) {
        size_t k = i + 1;
        while (k < s.size() && ignorable(s[k])) ++k;
        final_sigma = k == s.size() || !cased(s[k]);
      }
      out += final_sigma ? U'\u03C2' : U'\u03C3';
    } else {
      out += static_cast<char32_t>(unicode::simple_lower(c));
    }
  }
  return out;
}

std::u32string python_strip(const std::u32string& s) {
  size_t b = 0, e = s.size();
  while (b < e && unicode::is_py_space(s[b])) ++b;
  while (e > b && unicode::is_py_space(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::u32string whitespace_clean(const std::u32string& s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    if (unicode::is_regex_space(s[i])) {
      out += U' ';
      while (i < s.size() && unicode::is_regex_space(s[i])) ++i;
    } else {
      out += s[i++];
    }
  }
  return python_strip(out);
}

std::u32string clean_text(const std::string& utf8_text) {
  std::u32string t = ftfy_lite(utf8_decode(utf8_text));
  t = python_strip(html_unescape(html_unescape(t)));
  return python_lower(whitespace_clean(t));
}

}  // namespace disco::clip
