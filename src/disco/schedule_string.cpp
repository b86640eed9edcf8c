// Recursive-descent parser for DD's schedule strings (grammar in schedule_string.h).
#include "disco/schedule_string.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "common/error.h"

namespace disco {
namespace {

// Longest list a schedule may expand to: DD needs 1000; this only stops "[0]*10**9"-style typos
// from eating memory.
constexpr std::size_t kMaxLength = 1000000;

// A parsed value: Python's int or list (the only types the grammar produces).
struct Value {
  bool is_list = false;
  long long integer = 0;
  std::vector<double> items;
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& name) : s_(text), name_(name) {}

  std::vector<double> parse() {
    skip_space();
    if (pos_ == s_.size()) fail("the string is empty", "a list such as [12]*400+[4]*600");
    Value v = expr();
    skip_space();
    if (pos_ != s_.size()) fail(describe_here(), "'+', '*' or the end of the string");
    if (!v.is_list) fail_at(0, "the expression is a number, not a list", "a list such as [1]*1000");
    return v.items;
  }

 private:
  Value expr() {
    Value v = term();
    for (skip_space(); peek() == '+'; skip_space()) {
      std::size_t at = pos_++;
      Value rhs = term();
      if (v.is_list != rhs.is_list)
        fail_at(at, "'+' joins a list and a number", "'+' between two lists");
      if (v.is_list) {
        check_length(v.items.size() + rhs.items.size(), at);
        v.items.insert(v.items.end(), rhs.items.begin(), rhs.items.end());
      } else {
        v.integer += rhs.integer;
      }
    }
    return v;
  }

  Value term() {
    Value v = atom();
    for (skip_space(); peek() == '*'; skip_space()) {
      std::size_t at = pos_++;
      skip_space();
      if (peek() == '*') fail("'**' (power) is not supported", "a list or an integer");
      Value rhs = atom();
      if (v.is_list && rhs.is_list) fail_at(at, "'*' multiplies two lists", "a list times an integer");
      if (!v.is_list && !rhs.is_list) {
        v.integer *= rhs.integer;
        continue;
      }
      Value& list = v.is_list ? v : rhs;
      long long n = v.is_list ? rhs.integer : v.integer;
      Value out;
      out.is_list = true;
      if (n > 0) {  // Python: a list times n <= 0 is the empty list
        check_length(list.items.size() * static_cast<std::size_t>(n), at);
        out.items.reserve(list.items.size() * static_cast<std::size_t>(n));
        for (long long k = 0; k < n; ++k) out.items.insert(out.items.end(), list.items.begin(), list.items.end());
      }
      v = std::move(out);
    }
    return v;
  }

  Value atom() {
    skip_space();
    char c = peek();
    if (c == '[') return list();
    if (c == '(') {
      ++pos_;
      Value v = expr();
      skip_space();
      expect(')', "')'");
      return v;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t at = pos_;
      std::string digits = read_digits();
      if (peek() == '.' || peek() == 'e' || peek() == 'E')
        fail_at(at, "a repeat count must be an integer", "an integer such as 400");
      if (digits.size() > 9) fail_at(at, "the repeat count is too large", "an integer below 10^9");
      Value v;
      v.integer = std::stoll(digits);
      return v;
    }
    fail(describe_here(), "'[', '(' or an integer");
  }

  Value list() {
    ++pos_;  // '['
    Value v;
    v.is_list = true;
    skip_space();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      v.items.push_back(number());
      skip_space();
      if (peek() == ']') {
        ++pos_;
        return v;
      }
      expect(',', "',' or ']'");
      skip_space();
      if (peek() == ']') {  // trailing comma, as Python allows
        ++pos_;
        return v;
      }
    }
  }

  // A Python int or float literal with an optional sign.
  double number() {
    skip_space();
    std::size_t start = pos_;
    std::string literal;
    if (peek() == '+' || peek() == '-') {
      literal += s_[pos_++];
      skip_space();
    }
    std::size_t digits_at = pos_;
    if (peek() == '[') fail("nested lists are not supported", "a number");
    std::string mantissa;
    if (std::isdigit(static_cast<unsigned char>(peek()))) mantissa = read_digits();
    if (peek() == '.') {
      ++pos_;
      mantissa += '.';
      if (std::isdigit(static_cast<unsigned char>(peek()))) mantissa += read_digits();
    }
    if (mantissa.empty() || mantissa == ".") {
      pos_ = digits_at;
      fail(describe_here(), "a number");
    }
    literal += mantissa;
    if (peek() == 'e' || peek() == 'E') {
      literal += s_[pos_++];
      if (peek() == '+' || peek() == '-') literal += s_[pos_++];
      if (!std::isdigit(static_cast<unsigned char>(peek()))) fail(describe_here(), "the digits of an exponent");
      literal += read_digits();
    }
    if (std::isalpha(static_cast<unsigned char>(peek())) || peek() == '_')
      fail(describe_here(), "a number");
    double value = std::strtod(literal.c_str(), nullptr);
    if (!std::isfinite(value)) fail_at(start, "the number is out of range", "a finite number");
    return value;
  }

  // Digits with single '_' separators between them (Python's rule); returns them without '_'.
  std::string read_digits() {
    std::string out;
    while (std::isdigit(static_cast<unsigned char>(peek()))) {
      out += s_[pos_++];
      if (peek() == '_' && pos_ + 1 < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_ + 1]))) ++pos_;
    }
    return out;
  }

  void check_length(std::size_t n, std::size_t at) {
    if (n > kMaxLength) fail_at(at, "the list would have more than 1000000 entries", "a list of about 1000 entries");
  }

  void expect(char c, const char* what) {
    if (peek() != c) fail(describe_here(), what);
    ++pos_;
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }

  void skip_space() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }

  std::string describe_here() const {
    if (pos_ >= s_.size()) return "the string ends too early";
    return std::string("unexpected '") + s_[pos_] + "'";
  }

  [[noreturn]] void fail(const std::string& problem, const std::string& expected) const {
    fail_at(pos_, problem, expected);
  }

  [[noreturn]] void fail_at(std::size_t at, const std::string& problem, const std::string& expected) const {
    throw SettingsError(detail::concat(
        "setting '", name_, "': cannot read the schedule string \"", s_, "\": ", problem, " at position ", at,
        " (counting from 0); expected ", expected,
        ". Schedule strings are lists like \"[12]*400+[4]*600\" (a list of numbers, '*' an integer "
        "repeat count, '+' to join lists); they are parsed, never run as Python."));
  }

  const std::string& s_;
  const std::string& name_;
  std::size_t pos_ = 0;
};

}  // namespace

std::vector<double> parse_schedule_string(const std::string& text, const std::string& name) {
  return Parser(text, name).parse();
}

std::vector<double> parse_cut_schedule(const std::string& text, const std::string& name) {
  std::vector<double> values = parse_schedule_string(text, name);
  DISCO_CHECK(values.size() >= kCutScheduleLength, SettingsError, "setting '", name, "': the schedule \"", text,
              "\" has ", values.size(), " entries, but cut schedules need at least ", kCutScheduleLength,
              " (one per step of the original 1000-step scale, e.g. \"[12]*400+[4]*600\").");
  return values;
}

}  // namespace disco
