#include "progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <unistd.h>

namespace disco::cli {

std::string format_duration(double seconds) {
  const long s = std::lround(std::max(0.0, seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s / 60) % 60);
  else if (s >= 60)
    std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lds", s);
  return buf;
}

Progress::Progress(bool quiet) : quiet_(quiet), tty_(::isatty(::fileno(stderr)) != 0) {}

void Progress::done() {
  if (open_) std::fputc('\n', stderr);
  open_ = false;
}

void Progress::log(const std::string& line) {
  if (quiet_) return;
  done();
  std::fprintf(stderr, "%s\n", line.c_str());
}

void Progress::draw(const std::string& text, int percent) {
  if (quiet_) return;
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    std::fflush(stderr);
    open_ = true;
    return;
  }
  const int bucket = percent / 10;
  if (bucket == last_bucket_) return;
  last_bucket_ = bucket;
  std::fprintf(stderr, "%s\n", text.c_str());
}

void Progress::step(int step, int steps, double elapsed_s) {
  if (step == 1) last_bucket_ = -1;
  const double rate = elapsed_s > 0 ? step / elapsed_s : 0;
  const double eta = rate > 0 ? (steps - step) / rate : 0;
  char buf[128];
  std::snprintf(buf, sizeof buf, "step %d/%d | %.2f it/s | eta %s", step, steps, rate, format_duration(eta).c_str());
  draw(buf, steps > 0 ? step * 100 / steps : 100);
  if (step == steps) done();
}

void Progress::download(const std::string& name, int64_t received, int64_t total) {
  if (name != last_key_) {
    last_key_ = name;
    last_bucket_ = -1;
  }
  char buf[160];
  const double mb = received / 1e6;
  if (total > 0)
    std::snprintf(buf, sizeof buf, "fetching %s: %.1f / %.1f MB (%d%%)", name.c_str(), mb, total / 1e6,
                  static_cast<int>(received * 100 / total));
  else
    std::snprintf(buf, sizeof buf, "fetching %s: %.1f MB", name.c_str(), mb);
  draw(buf, total > 0 ? static_cast<int>(received * 100 / total) : 0);
  if (total > 0 && received >= total) done();
}

}  // namespace disco::cli
