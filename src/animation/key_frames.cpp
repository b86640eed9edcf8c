// Key-frame strings and their per-frame series, as DD v5.7 computes them (dd-spec §11.1).
#include "animation/key_frames.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace disco::animation {
namespace {

// Python's str.isspace() for the ASCII range, as DD's `[\s]*` matches it.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f); }

std::string trim(const std::string& s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) ++a;
  while (b > a && is_space(s[b - 1])) --b;
  return s.substr(a, b - a);
}

// float(text) as Python reads a decimal: surrounding whitespace and digit-group underscores
// allowed, no hex. Finite only:
// pandas would take a NaN for a missing key.
double read_value(const std::string& param, const std::string& setting) {
  std::string t = trim(param);
  for (size_t i = 1; i + 1 < t.size(); ++i)  // Python reads 1_000 as 1000 (one '_' between digits)
    if (t[i] == '_' && std::isdigit(static_cast<unsigned char>(t[i - 1])) && std::isdigit(static_cast<unsigned char>(t[i + 1])))
      t.erase(i, 1);
  const bool plain = !t.empty() && t.find_first_of("xX") == std::string::npos;
  char* end = nullptr;
  errno = 0;
  const double v = plain ? std::strtod(t.c_str(), &end) : 0;
  DISCO_CHECK(plain && end == t.c_str() + t.size() && std::isfinite(v), SettingsError, "setting '", setting,
              "' has the key-frame value '", param, "', which is not a finite number; write keys like \"0: (1.5)\".");
  return v;
}

// One match of DD's pattern `([0-9]+):[\s]*[\(]([\S\s]*?)[\)]` at `at`: the end of the match,
// or npos. Greedy digits and spaces cannot give back anything the next token could use, so the
// first try at each position is the only one.
size_t match_at(const std::string& s, size_t at, int64_t* frame, std::string* param, const std::string& setting) {
  size_t i = at;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == at || i >= s.size() || s[i] != ':') return std::string::npos;
  const std::string digits = s.substr(at, i - at);
  ++i;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i >= s.size() || s[i] != '(') return std::string::npos;
  const size_t close = s.find(')', i + 1);
  if (close == std::string::npos) return std::string::npos;
  DISCO_CHECK(digits.size() <= 12, SettingsError, "setting '", setting, "' has the key frame ", digits,
              ", which is too large; frames are counted from 0 up to max_frames - 1.");
  *frame = std::stoll(digits);
  *param = s.substr(i + 1, close - i - 1);
  return close + 1;
}

}  // namespace

double plain_motion_value(const std::string& text, const std::string& setting) {
  return read_value(text, setting + "' (key_frames is false, so it is a plain number)");
}

const char* interp_name(Interp i) {
  return i == Interp::Cubic ? "Cubic" : i == Interp::Quadratic ? "Quadratic" : "Linear";
}

std::vector<KeyFrame> parse_key_frames(const std::string& text, const std::string& setting) {
  std::vector<KeyFrame> keys;
  for (size_t at = 0; at < text.size();) {
    int64_t frame = 0;
    std::string param;
    const size_t end = match_at(text, at, &frame, &param, setting);
    if (end == std::string::npos) {
      ++at;
      continue;
    }
    const double value = read_value(param, setting);
    auto same = std::find_if(keys.begin(), keys.end(), [&](const KeyFrame& k) { return k.frame == frame; });
    if (same != keys.end()) same->value = value;  // a Python dict: the first place, the last value
    else keys.push_back({frame, value});
    at = end;
  }
  if (keys.empty() && !text.empty())
    throw KeyFrameFormatError(detail::concat("setting '", setting, "' is \"", text,
                                             "\", which has no key frame; write keys like \"0: (0), 10: (1.5)\"."));
  return keys;
}

}  // namespace disco::animation

namespace disco::animation {
namespace {

// DD's pandas series: labels 0 .. max_frames - 1, then the keys beyond them in key order.
struct Series {
  std::vector<double> label, value;
  std::vector<bool> valid;
};

Series key_series(const std::vector<KeyFrame>& keys, int64_t max_frames) {
  Series s;
  for (int64_t f = 0; f < max_frames; ++f) s.label.push_back(static_cast<double>(f));
  s.value.assign(s.label.size(), 0.0);
  s.valid.assign(s.label.size(), false);
  for (const auto& k : keys) {
    if (k.frame < max_frames) {
      s.value[k.frame] = k.value, s.valid[k.frame] = true;
      continue;
    }
    s.label.push_back(static_cast<double>(k.frame));
    s.value.push_back(k.value);
    s.valid.push_back(true);
  }
  // series[0] = the first valid value, then series[max_frames - 1] = the last (in position order).
  const auto first = std::find(s.valid.begin(), s.valid.end(), true) - s.valid.begin();
  s.value[0] = s.value[first], s.valid[0] = true;
  const auto last = s.valid.size() - 1 - (std::find(s.valid.rbegin(), s.valid.rend(), true) - s.valid.rbegin());
  s.value[max_frames - 1] = s.value[last], s.valid[max_frames - 1] = true;
  return s;
}

// pandas' 'linear': np.interp over positions (the index ignored), slope * (x - x0) + y0.
void fill_linear(Series& s) {
  std::vector<size_t> at;
  for (size_t p = 0; p < s.valid.size(); ++p)
    if (s.valid[p]) at.push_back(p);
  for (size_t j = 0; j + 1 < at.size(); ++j) {
    const double x0 = static_cast<double>(at[j]), y0 = s.value[at[j]], y1 = s.value[at[j + 1]];
    const double slope = (y1 - y0) / (static_cast<double>(at[j + 1]) - x0);
    for (size_t p = at[j] + 1; p < at[j + 1]; ++p) s.value[p] = slope * (static_cast<double>(p) - x0) + y0;
  }
}

// scipy's make_interp_spline knots (what interp1d uses for 'quadratic' and 'cubic'): for k = 2
// the midpoints between sites without the first and last, for k = 3 not-a-knot.
std::vector<double> spline_knots(const std::vector<double>& x, int k) {
  std::vector<double> t(k + 1, x.front());
  if (k == 2)
    for (size_t i = 1; i + 2 < x.size(); ++i) t.push_back((x[i] + x[i + 1]) / 2);
  else
    for (size_t i = 2; i + 2 < x.size(); ++i) t.push_back(x[i]);
  t.insert(t.end(), k + 1, x.back());
  return t;
}

// The k + 1 B-spline basis values at x on knot interval l (de Boor - Cox).
std::vector<double> basis(const std::vector<double>& t, int k, size_t l, double x) {
  std::vector<double> n(k + 1, 0.0), left(k + 1), right(k + 1);
  n[0] = 1;
  for (int j = 1; j <= k; ++j) {
    left[j] = x - t[l + 1 - j];
    right[j] = t[l + j] - x;
    double saved = 0;
    for (int r = 0; r < j; ++r) {
      const double temp = n[r] / (right[r + 1] + left[j - r]);
      n[r] = saved + right[r + 1] * temp;
      saved = left[j - r] * temp;
    }
    n[j] = saved;
  }
  return n;
}

size_t knot_interval(const std::vector<double>& t, int k, size_t n_coef, double x) {
  size_t l = k;
  while (l + 1 < n_coef && t[l + 1] <= x) ++l;
  return l;
}

// Solves a (n x n, row-major) c = y by Gaussian elimination with partial pivoting.
std::vector<double> solve(std::vector<double> a, std::vector<double> y) {
  const size_t n = y.size();
  for (size_t c = 0; c < n; ++c) {
    size_t p = c;
    for (size_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    for (size_t k = 0; k < n; ++k) std::swap(a[c * n + k], a[p * n + k]);
    std::swap(y[c], y[p]);
    for (size_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      if (f == 0) continue;
      for (size_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
      y[r] -= f * y[c];
    }
  }
  std::vector<double> x(n);
  for (size_t r = n; r-- > 0;) {
    double v = y[r];
    for (size_t k = r + 1; k < n; ++k) v -= a[r * n + k] * x[k];
    x[r] = v / a[r * n + r];
  }
  return x;
}

// pandas' 'quadratic' / 'cubic': scipy's interpolating B-spline of degree k through the valid
// (label, value) points, evaluated at the missing labels.
void fill_spline(Series& s, int k) {
  std::vector<std::pair<double, double>> pts;
  for (size_t p = 0; p < s.valid.size(); ++p)
    if (s.valid[p]) pts.push_back({s.label[p], s.value[p]});
  std::sort(pts.begin(), pts.end());
  const size_t n = pts.size();
  std::vector<double> x(n), y(n), a(n * n, 0.0);
  for (size_t i = 0; i < n; ++i) x[i] = pts[i].first, y[i] = pts[i].second;
  const std::vector<double> t = spline_knots(x, k);
  for (size_t i = 0; i < n; ++i) {
    const size_t l = knot_interval(t, k, n, x[i]);
    const auto b = basis(t, k, l, x[i]);
    for (int r = 0; r <= k; ++r) a[i * n + l - k + r] = b[r];
  }
  const std::vector<double> c = solve(std::move(a), std::move(y));
  for (size_t p = 0; p < s.valid.size(); ++p) {
    if (s.valid[p]) continue;
    const size_t l = knot_interval(t, k, n, s.label[p]);
    const auto b = basis(t, k, l, s.label[p]);
    double v = 0;
    for (int r = 0; r <= k; ++r) v += c[l - k + r] * b[r];
    s.value[p] = v;
  }
}

constexpr size_t kMaxSplineKeys = 1000;  // the spline's dense solve is cubic in the key count

}  // namespace

std::vector<double> inbetweens(const std::vector<KeyFrame>& keys, int64_t max_frames, Interp interp) {
  DISCO_CHECK(!keys.empty() && max_frames >= 1, SettingsError, "a key-frame series needs at least one key frame.");
  if (interp == Interp::Cubic && keys.size() <= 3) interp = Interp::Quadratic;  // as DD falls back
  if (interp == Interp::Quadratic && keys.size() <= 2) interp = Interp::Linear;
  DISCO_CHECK(interp == Interp::Linear || keys.size() <= kMaxSplineKeys, SettingsError, "a key-frame string has ",
              keys.size(), " keys; interp_spline '", interp_name(interp), "' takes at most ", kMaxSplineKeys,
              " (Linear takes any number).");
  Series s = key_series(keys, max_frames);
  if (interp == Interp::Linear) fill_linear(s);
  else fill_spline(s, interp == Interp::Cubic ? 3 : 2);
  return std::vector<double>(s.value.begin(), s.value.begin() + max_frames);
}

std::vector<double> key_frame_series(const std::string& text, int64_t max_frames, Interp interp,
                                     const std::string& setting, std::vector<std::string>* notes) {
  DISCO_CHECK(!text.empty(), SettingsError, "setting '", setting,
              "' is empty; give at least one key frame, e.g. \"0: (0)\".");
  try {
    return inbetweens(parse_key_frames(text, setting), max_frames, interp);
  } catch (const KeyFrameFormatError&) {
    // DD's settings cell: warn, then read the string as frame 0's value.
    if (notes)
      notes->push_back(detail::concat("setting '", setting, "' is not in key-frame form (\"0: (value), ...\"): read as \"0: (",
                                      text, ")\", as DD does."));
    try {
      return inbetweens(parse_key_frames("0: (" + text + ")", setting), max_frames, interp);
    } catch (const SettingsError&) {
      throw SettingsError(detail::concat("setting '", setting, "' is \"", text,
                                         "\", which is neither key frames like \"0: (0), 10: (1.5)\" nor a number."));
    }
  }
}

}  // namespace disco::animation
