// Progress and logs on stderr: one redrawn line on a terminal, a line every 10 % otherwise.
#pragma once
#include <cstdint>
#include <string>

namespace disco::cli {

class Progress {
 public:
  explicit Progress(bool quiet);
  void log(const std::string& line);                          // a whole line (clears the bar first)
  void step(int step, int steps, double elapsed_s);           // "step 37/250 | 1.9 it/s | eta 1m50s"
  void download(const std::string& name, int64_t received, int64_t total);
  void done();                                                // ends a redrawn line

 private:
  void draw(const std::string& text, int percent);
  bool quiet_, tty_;
  bool open_ = false;      // a redrawn line is on screen
  int last_bucket_ = -1;   // last 10 % bucket printed (not a terminal)
  std::string last_key_;   // what the bucket belongs to (an image, a download)
};

// "1m50s", "12s", "2h03m".
std::string format_duration(double seconds);

}  // namespace disco::cli
