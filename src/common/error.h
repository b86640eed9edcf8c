// Errors raised by disco-cpp. src/ throws, only app/ catches and prints.
// what() is a full sentence for the user: what happened, which file/key/setting, what to do.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace disco {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// A bad setting or command-line value (exit code: usage).
class SettingsError : public Error {
 public:
  using Error::Error;
};

// A file that cannot be read or is not what it claims to be (checkpoint, image, vocabulary).
class CheckpointError : public Error {
 public:
  using Error::Error;
};

// Weights that do not fit the network they are loaded into (missing/unexpected/misshaped keys).
class ModelMismatchError : public Error {
 public:
  using Error::Error;
};

// Something went wrong while computing (NaN, out of memory, device problems).
class RuntimeError : public Error {
 public:
  using Error::Error;
};

class CancelledError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <typename... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

}  // namespace disco

// DISCO_CHECK(cond, ErrorType, message parts...): throws ErrorType(concatenated message) when !cond.
#define DISCO_CHECK(cond, ErrorType, ...)                               \
  do {                                                                  \
    if (!(cond)) throw ErrorType(::disco::detail::concat(__VA_ARGS__)); \
  } while (0)
