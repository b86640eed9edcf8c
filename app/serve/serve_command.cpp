#include "serve_command.h"

#include <csignal>
#include <iostream>
#include <pthread.h>
#include <thread>

#include "common/error.h"
#include "http_api.h"
#include "job_worker.h"

namespace disco::serve {
namespace {

// "host:port", "[v6]:port" or ":port".
void split_listen(const std::string& listen, std::string& host, int& port) {
  const size_t colon = listen.rfind(':');
  const std::string p = colon == std::string::npos ? "" : listen.substr(colon + 1);
  DISCO_CHECK(!p.empty() && p.size() <= 5 && p.find_first_not_of("0123456789") == std::string::npos && std::stoi(p) <= 65535,
              SettingsError, "--listen takes HOST:PORT (e.g. 127.0.0.1:7860), not '", listen, "'.");
  host = listen.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "127.0.0.1";
  port = std::stoi(p);
}

ServeConfig config_from(ServeArgs& args) {
  ServeConfig c;
  split_listen(args.listen, c.host, c.port);
  c.token = args.token == "auto" ? random_id() + random_id() : args.token;
  DISCO_CHECK(is_loopback_host(c.host) || !c.token.empty(), SettingsError, "--listen ", args.listen,
              " is reachable from other machines: give --token TOKEN, or --token auto for a generated one.");
  c.data_dir = args.data_dir;
  std::vector<std::string> notes;
  c.base = cli::build_settings(args.flags, &notes);
  for (const auto& n : notes) std::cerr << "note: " << n << "\n";
  c.run = args.flags.run;
  c.limits.max_queued = args.max_queue;
  c.limits.max_upload_bytes = size_t(args.max_upload_mib * 1024 * 1024);
  c.limits.max_upload_pixels = args.max_upload_pixels;
  c.limits.max_event_streams = args.max_event_streams;
  c.video = args.video;
  return c;
}

// Blocks SIGINT and SIGTERM, taken by sigwait in run_serve_command, and SIGPIPE for good;
// called before any thread starts, so that every thread inherits the mask. SIGPIPE: cpp-httplib
// writes to sockets without MSG_NOSIGNAL, and a client that closes its connection mid-answer (an
// event stream, a page left) would otherwise end the server; blocked, that write fails with
// EPIPE and only that connection ends. Returns the set to wait for.
sigset_t block_signals() {
  sigset_t stop_signals, blocked;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  blocked = stop_signals;
  sigaddset(&blocked, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
  return stop_signals;
}

}  // namespace

CLI::App* add_serve_command(CLI::App& app, ServeArgs& args) {
  auto* sub = app.add_subcommand("serve", "A local web app: a job queue, live progress and a gallery (docs/api.md). "
                                          "Settings flags given here are every job's defaults.");
  sub->add_option("--listen", args.listen, "HOST:PORT to listen on; other than loopback needs --token")
      ->capture_default_str()->group("Serve");
  sub->add_option("--data", args.data_dir, "Folder for the job database, outputs and uploads")
      ->capture_default_str()->group("Serve");
  sub->add_option("--token", args.token, "Secret every API call must send ('auto': generate one and print it)")
      ->group("Serve");
  sub->add_option("--max-queue", args.max_queue, "Most jobs waiting at once")->capture_default_str()
      ->check(CLI::PositiveNumber)->group("Serve");
  sub->add_option("--max-upload-mib", args.max_upload_mib, "Largest upload in MiB")->capture_default_str()
      ->check(CLI::PositiveNumber)->group("Serve");
  sub->add_option("--max-upload-pixels", args.max_upload_pixels, "Most pixels of a decoded upload")
      ->capture_default_str()->check(CLI::PositiveNumber)->group("Serve");
  sub->add_option("--max-event-streams", args.max_event_streams,
                  "Most event streams open at once (each holds a server thread); more get 503")
      ->capture_default_str()->check(CLI::PositiveNumber)->group("Serve");
  sub->add_option("--video-fps", args.video.fps, "Frames per second of an animation's video in the gallery")
      ->capture_default_str()->check(CLI::PositiveNumber)->group("Serve");
  sub->add_option("--video-preset", args.video.preset, "x264 preset of those videos (DD: veryslow)")
      ->capture_default_str()->group("Serve");
  cli::add_run_flags(*sub, args.flags);
  return sub;
}

int run_serve_command(ServeArgs& args) {
  ServeConfig config = config_from(args);
  const sigset_t stop_signals = block_signals();
  // Only a generated token is printed: one given on the command line is already known.
  const std::string token = args.token == "auto" ? config.token : "", host = config.host;
  Server server(std::move(config));
  DISCO_CHECK(server.bind(), SettingsError, "cannot listen on ", args.listen, " (in use, or not an address here).");
  std::thread serving([&] { server.serve(); });
  std::cout << "disco serve: http://" << (host.find(':') != std::string::npos ? "[" + host + "]" : host) << ":"
            << server.port() << "/" << (token.empty() ? "" : "#token=" + token) << std::endl;
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cerr << "disco serve: stopping; a running job resumes at the next start\n";
  server.stop();
  serving.join();
  return 0;
}

}  // namespace disco::serve
