// `disco serve`'s HTTP side: the JSON API of docs/api.md, server-sent events, uploads, images by
// id and the embedded page, on cpp-httplib. Owns the job store, the event hub and the worker.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "disco/run.h"
#include "disco/settings.h"
#include "io/video.h"

namespace disco::serve {

struct ServeLimits {
  size_t max_json_bytes = size_t{1} << 20;       // a settings object is a few KiB
  int max_json_depth = 16;                       // DD's settings nest 3 levels deep
  size_t max_upload_bytes = size_t{20} << 20;    // an init image or image prompt
  int64_t max_upload_pixels = 4096 * 4096;       // decoded; DD resizes every input to the image size
  int max_queued = 1000;                         // jobs waiting; more are refused with 429
  // Event streams open at once; more are refused with 503. Each holds one of the server's
  // threads while open, and kApiThreads more are kept for everything else (http_api.cpp).
  int max_event_streams = 48;
};

struct ServeConfig {
  std::string host = "127.0.0.1";
  int port = 7860;
  std::string data_dir = "disco-serve";  // jobs.db, jobs/ (outputs), uploads/
  std::string token;                     // empty: none asked for (loopback only)
  Settings base;                         // the serve command's settings flags: every job's defaults
  RunOptions run;                        // device, precision and model files
  io::VideoOptions video;                // how an animation's frames are joined for the gallery
  ServeLimits limits;
};

// True for 127.0.0.0/8, ::1 and "localhost": where a server may listen without a token.
bool is_loopback_host(const std::string& host);

class Server {
 public:
  explicit Server(ServeConfig config);  // opens the store, queues interrupted jobs again
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Binds the address and starts the worker; false when the address cannot be bound.
  bool bind();
  int port() const;
  // Serves until stop() (from another thread).
  void serve();
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace disco::serve
