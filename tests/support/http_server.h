// A tiny HTTP/1.1 server on 127.0.0.1 for the download tests: serves fixed bodies, honours
// "Range: bytes=N-", and can misbehave on purpose (cut a response, answer HTML, 404).
#pragma once
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace disco::test {

struct Route {
  std::string body;
  std::string content_type = "application/octet-stream";
  int status = 200;
  // Close the connection after this many body bytes on the first `cut_times` requests.
  size_t cut_after = 0;
  int cut_times = 0;
  bool honour_range = true;
};

class HttpServer {
 public:
  HttpServer();  // binds an ephemeral port on 127.0.0.1 and starts serving
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void add(const std::string& path, Route route);
  std::string url(const std::string& path) const;
  // Every request line + Range header seen, e.g. "GET /m.pt range=1000".
  std::vector<std::string> log() const;

 private:
  void serve();
  void handle(int fd);
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::map<std::string, Route> routes_;
  std::vector<std::string> log_;
};

// A port on 127.0.0.1 with nothing listening (for "dead mirror" tests).
int unused_local_port();

// A port on 127.0.0.1 that accepts connections (the kernel's backlog) and never answers: a server
// that hangs, for timeout tests.
class SilentServer {
 public:
  SilentServer();
  ~SilentServer();
  SilentServer(const SilentServer&) = delete;
  SilentServer& operator=(const SilentServer&) = delete;
  std::string url(const std::string& path) const;

 private:
  int fd_ = -1;
  int port_ = 0;
};

}  // namespace disco::test
