// Running a program from a test: a shell line with its output captured, for the tests that run
// the built `disco` binary.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <sys/wait.h>

namespace disco::test {

struct CommandResult {
  int status = -1;  // the exit code; -1 when the program did not exit normally
  std::string out, err;
};

// `s` as one single-quoted shell word.
inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Runs the shell line `command`, its stdout and stderr captured through files in `dir`.
inline CommandResult run_command(std::string command, const std::filesystem::path& dir) {
  const auto out = dir / "stdout.txt", err = dir / "stderr.txt";
  command += " >" + quote(out.string()) + " 2>" + quote(err.string());
  const int rc = std::system(command.c_str());
  CommandResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

// Runs `program` with `args`, each quoted as one shell word; output captured as run_command does.
inline CommandResult run_program(const std::string& program, const std::vector<std::string>& args,
                                 const std::filesystem::path& dir) {
  std::string command = quote(program);
  for (const auto& a : args) command += " " + quote(a);
  return run_command(command, dir);
}

#ifdef DISCO_BINARY
// The built `disco` binary (the suites that run it define DISCO_BINARY).
inline CommandResult run_disco(const std::vector<std::string>& args, const std::filesystem::path& dir) {
  return run_program(DISCO_BINARY, args, dir);
}
#endif

}  // namespace disco::test
