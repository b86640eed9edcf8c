// HTTP(S) downloads for the model manager: resumable (.part + Range), with progress, via libcurl.
// libcurl is optional at build time; without it download_supported() is false and
// download_file throws a DownloadError saying how to place the file by hand.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/error.h"

namespace disco::io {

class DownloadError : public Error {
 public:
  using Error::Error;
};

struct DownloadOptions {
  // received/total bytes of the whole file (total = -1 when the server does not say).
  std::function<void(int64_t received, int64_t total)> on_progress;
  long connect_timeout_s = 20;
  long stall_timeout_s = 60;  // abort when less than 1 byte/s arrives for this long
  int attempts = 3;           // per URL; later attempts resume the .part file
};

bool download_supported();

// Downloads url to `dest + ".part"`, resuming what a previous attempt left there, and renames
// it to dest when the transfer is complete. A page of HTML instead of the file, an HTTP error, or a
// cut connection after the last attempt throws DownloadError (the .part file is kept for resuming,
// except for HTML/HTTP errors where it is removed).
void download_file(const std::string& url, const std::string& dest, const DownloadOptions& options = {});

// Options of fetch_to_memory: a small file (an image) that nothing resumes.
struct FetchOptions {
  int64_t max_bytes = int64_t{50} << 20;  // refuse larger answers (announced or received)
  long connect_timeout_s = 20;
  long timeout_s = 120;  // the whole transfer
};

// DD's fetch(url): requests.get(url).content, with limits DD lacks. Follows redirects. Throws
// DownloadError naming the URL for an HTTP error status (404 ...), a timeout, an answer over
// max_bytes, a failed connection, or a build without libcurl.
std::vector<uint8_t> fetch_to_memory(const std::string& url, const FetchOptions& options = {});

// True when `head` (a file's first bytes) starts like a web page: servers behind login walls or
// rate limits answer 200 with HTML instead of the file.
bool looks_like_html(std::string_view head);

}  // namespace disco::io
