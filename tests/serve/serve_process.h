// `disco serve` as a child process on a loopback port for the serve suites: started with the
// tiny fixture models, stopped with SIGTERM or killed with SIGKILL, and an HTTP client for it.
#pragma once
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include "support/command.h"
#include "support/tiny_flags.h"

namespace disco::test {

// Every job's defaults on the server: the tiny models' sizes, a few steps, one image.
inline std::vector<std::string> tiny_serve_defaults() {
  return {"--set", "use_secondary_model=false", "--set", "width=64", "--set", "height=64", "--set", "skip_steps=1",
          "--set", "steps=4", "--set", "n_batches=1", "--set", "display_rate=2", "--set", "cutn_batches=1",
          "--set", "batch_name=t", "--set", "text_prompts=[\"a lighthouse:1\"]"};
}

class ServeProcess {
 public:
  // Starts `disco serve --listen 127.0.0.1:0 --data DATA` with the tiny models and `extra` flags,
  // and waits for its address line.
  ServeProcess(const std::filesystem::path& data, std::vector<std::string> extra = {}) : data_(data) {
    std::filesystem::create_directories(data);
    std::vector<std::string> args = {DISCO_BINARY, "serve", "--listen", "127.0.0.1:0", "--data", data.string()};
    for (auto& f : tiny_model_flags(data)) args.push_back(f);
    for (auto& f : tiny_serve_defaults()) args.push_back(f);
    for (auto& f : extra) args.push_back(f);
    pid_ = spawn(args);
    port_ = wait_for_port();
  }
  ~ServeProcess() { stop(SIGTERM); }
  ServeProcess(const ServeProcess&) = delete;
  ServeProcess& operator=(const ServeProcess&) = delete;

  int port() const { return port_; }
  std::string output() const { return read_file(data_ / "serve.out") + read_file(data_ / "serve.err"); }
  // Sends `sig` and waits for the process; returns its exit status (-1: killed by a signal).
  int stop(int sig) {
    if (pid_ <= 0) return status_;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return status_;
  }

  // Runs `args` with stdout and stderr into DATA/serve.out and serve.err. The files are emptied
  // here, before the fork: a server started again on the same data must not be found at the
  // port its predecessor's serve.out names.
  pid_t spawn(const std::vector<std::string>& args) {
    const std::string out = (data_ / "serve.out").string(), err = (data_ / "serve.err").string();
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(out_fd, 1);  // dup2 clears close-on-exec on 1 and 2
      ::dup2(err_fd, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out_fd);
    ::close(err_fd);
    return pid;
  }

 private:
  // The port from the "disco serve: http://127.0.0.1:PORT/" line; 0 when the process ended.
  int wait_for_port() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const std::string out = read_file(data_ / "serve.out");
      const size_t at = out.find("http://127.0.0.1:");
      if (at != std::string::npos && out.find('/', at + 17) != std::string::npos) return std::stoi(out.substr(at + 17));
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        pid_ = -1;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        return 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return 0;
  }

  std::filesystem::path data_;
  pid_t pid_ = -1;
  int port_ = 0;
  int status_ = -1;
};

// JSON over HTTP to a server on 127.0.0.1.
struct Api {
  // The read timeout is well above the 15 s between an idle event stream's keep-alive comments.
  explicit Api(int port, std::string token = "") : http("127.0.0.1", port) {
    http.set_connection_timeout(10, 0);
    http.set_read_timeout(60, 0);
    if (!token.empty()) http.set_default_headers({{"Authorization", "Bearer " + token}});
  }
  // Status and body; status 0 when no answer came, with httplib's reason as the body.
  std::pair<int, std::string> get(const std::string& path) { return answer(http.Get(path.c_str())); }
  std::pair<int, std::string> post(const std::string& path, const std::string& body,
                                   const std::string& type = "application/json") {
    return answer(http.Post(path.c_str(), body, type.c_str()));
  }
  static std::pair<int, std::string> answer(const httplib::Result& r) {
    if (!r) return {0, "no answer: " + httplib::to_string(r.error())};
    return {r->status, r->body};
  }
  nlohmann::json json(const std::string& path) {
    const auto [status, body] = get(path);
    EXPECT_EQ(status, 200) << path << ": " << body;
    return nlohmann::json::parse(body, nullptr, false);
  }
  // Submits {"settings": settings}; the job id, or -1 (with the status and body in `why`).
  int64_t submit(const nlohmann::json& settings, std::string* why = nullptr) {
    const auto [status, body] = post("/api/jobs", nlohmann::json{{"settings", settings}}.dump());
    if (status != 201) {
      if (why) *why = std::to_string(status) + " " + body;
      return -1;
    }
    return nlohmann::json::parse(body).at("id").get<int64_t>();
  }
  // Polls the job until its state is final; returns the job.
  nlohmann::json wait_final(int64_t id, int timeout_s = 120) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    nlohmann::json job;
    do {
      job = json("/api/jobs/" + std::to_string(id));
      const std::string s = job.value("state", "");
      if (s == "done" || s == "failed" || s == "cancelled") return job;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << "job " << id << " did not end: " << job.dump();
    return job;
  }
  // Follows the job's event stream to its end: each event as {"type", "data"}.
  std::vector<nlohmann::json> events(int64_t id) {
    std::vector<nlohmann::json> out;
    std::string buffer;
    http.Get(("/api/jobs/" + std::to_string(id) + "/events").c_str(), [&](const char* data, size_t n) {
      buffer.append(data, n);
      for (size_t end; (end = buffer.find("\n\n")) != std::string::npos; buffer.erase(0, end + 2)) {
        const std::string block = buffer.substr(0, end);
        const size_t ev = block.find("event: "), da = block.find("data: ");
        if (ev == std::string::npos || da == std::string::npos) continue;
        out.push_back({{"type", block.substr(ev + 7, block.find('\n', ev) - ev - 7)},
                       {"data", nlohmann::json::parse(block.substr(da + 6), nullptr, false)}});
      }
      return true;
    });
    return out;
  }
  httplib::Client http;
};

// A scratch folder per test, removed when the test passed.
inline std::filesystem::path serve_scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("disco_serve_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace disco::test
