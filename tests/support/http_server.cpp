#include "support/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <stdexcept>

namespace disco::test {
namespace {

int bind_loopback(int* port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0)
    throw std::runtime_error("bind(127.0.0.1) failed");
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

void send_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k <= 0) return;
    p += k;
    n -= size_t(k);
  }
}

}  // namespace

HttpServer::HttpServer() {
  listen_fd_ = bind_loopback(&port_);
  ::listen(listen_fd_, 16);
  thread_ = std::thread([this] { serve(); });
}

HttpServer::~HttpServer() {
  stop_ = true;
  thread_.join();
  ::close(listen_fd_);
}

void HttpServer::add(const std::string& path, Route route) {
  std::lock_guard<std::mutex> lock(mu_);
  routes_[path] = std::move(route);
}

std::string HttpServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

std::vector<std::string> HttpServer::log() const {
  std::lock_guard<std::mutex> lock(mu_);
  return log_;
}

void HttpServer::serve() {
  // Bounded: polls with a timeout so the destructor can stop it; one connection at a time.
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    handle(fd);
    ::close(fd);
  }
}

void HttpServer::handle(int fd) {
  std::string req;
  char buf[4096];
  while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) return;
    ssize_t k = ::recv(fd, buf, sizeof(buf), 0);
    if (k <= 0) return;
    req.append(buf, size_t(k));
  }
  std::istringstream in(req);
  std::string method, path;
  in >> method >> path;
  size_t range_start = 0;
  bool has_range = false;
  for (std::string line; std::getline(in, line);) {
    for (auto& c : line) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (line.rfind("range: bytes=", 0) == 0) {
      has_range = true;
      range_start = std::stoull(line.substr(13));
    }
  }
  Route route;
  bool found;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(method + " " + path + (has_range ? " range=" + std::to_string(range_start) : ""));
    auto it = routes_.find(path);
    found = it != routes_.end();
    if (found) {
      route = it->second;
      if (it->second.cut_times > 0) it->second.cut_times--;
    }
  }
  std::ostringstream head;
  if (!found || route.status != 200) {
    int status = found ? route.status : 404;
    std::string body = "<html><body>error</body></html>";
    head << "HTTP/1.1 " << status << " Error\r\nContent-Type: text/html\r\nContent-Length: "
         << body.size() << "\r\nConnection: close\r\n\r\n" << body;
    send_all(fd, head.str().data(), head.str().size());
    return;
  }
  const std::string& body = route.body;
  bool partial = has_range && route.honour_range;
  if (partial && range_start >= body.size()) {
    head << "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" << body.size()
         << "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    send_all(fd, head.str().data(), head.str().size());
    return;
  }
  size_t start = partial ? range_start : 0;
  size_t len = body.size() - start;
  head << "HTTP/1.1 " << (partial ? "206 Partial Content" : "200 OK") << "\r\nContent-Type: "
       << route.content_type << "\r\nContent-Length: " << len << "\r\n";
  if (partial) head << "Content-Range: bytes " << start << "-" << body.size() - 1 << "/" << body.size() << "\r\n";
  head << "Connection: close\r\n\r\n";
  send_all(fd, head.str().data(), head.str().size());
  size_t n = len;
  if (route.cut_times > 0 && route.cut_after < len) n = route.cut_after;
  send_all(fd, body.data() + start, n);
}

int unused_local_port() {
  int port = 0;
  int fd = bind_loopback(&port);
  ::close(fd);  // nothing listens there now
  return port;
}

SilentServer::SilentServer() {
  fd_ = bind_loopback(&port_);
  ::listen(fd_, 4);
}

SilentServer::~SilentServer() { ::close(fd_); }

std::string SilentServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

}  // namespace disco::test
