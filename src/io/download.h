// HTTP(S) downloads for the model manager: resumable (.part + Range), with progress, via libcurl.
// libcurl is optional at build time; without it download_supported() is false and
// download_file throws a DownloadError saying how to place the file by hand.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

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

}  // namespace disco::io
