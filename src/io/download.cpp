#include "io/download.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#ifdef DISCO_HAVE_CURL
#include <curl/curl.h>
#endif

namespace disco::io {
namespace fs = std::filesystem;

namespace {

bool file_looks_like_html(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  char head[256] = {0};
  f.read(head, sizeof(head) - 1);
  return looks_like_html(std::string_view(head, size_t(f.gcount())));
}

}  // namespace

bool looks_like_html(std::string_view s) {
  size_t i = s.find_first_not_of(" \t\r\n");
  if (i == std::string::npos) return false;
  std::string lower;
  for (char c : s.substr(i, 15)) lower += char(std::tolower(static_cast<unsigned char>(c)));
  return lower.rfind("<!doctype html", 0) == 0 || lower.rfind("<html", 0) == 0 ||
         lower.rfind("<head", 0) == 0;
}

#ifdef DISCO_HAVE_CURL

namespace {

struct Transfer {
  std::FILE* file = nullptr;
  int64_t offset = 0;  // bytes already in the .part file when this attempt started
  const DownloadOptions* options = nullptr;
};

size_t write_cb(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  return std::fwrite(data, size, n, t->file) * size;
}

int progress_cb(void* user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->options->on_progress)
    t->options->on_progress(t->offset + int64_t(now), total > 0 ? t->offset + int64_t(total) : -1);
  return 0;
}

void global_init_once() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  DISCO_CHECK(ok, DownloadError, "could not initialise libcurl");
}

enum class Outcome { Done, Retry, Restart, Fatal };

// One HTTP attempt appending to `part`. Returns what to do next; `why` explains failures.
Outcome attempt(const std::string& url, const std::string& part, const DownloadOptions& options,
                std::string& why) {
  int64_t have = fs::exists(part) ? int64_t(fs::file_size(part)) : 0;
  Transfer t;
  t.offset = have;
  t.options = &options;
  t.file = std::fopen(part.c_str(), have > 0 ? "ab" : "wb");
  if (!t.file) {
    why = "cannot write '" + part + "': " + std::strerror(errno);
    return Outcome::Fatal;
  }
  CURL* curl = curl_easy_init();
  char err[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.stall_timeout_s);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "disco-cpp");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_cb);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress_cb);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
  if (have > 0) curl_easy_setopt(curl, CURLOPT_RESUME_FROM_LARGE, curl_off_t(have));
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  bool write_ok = std::fclose(t.file) == 0;

  if (rc == CURLE_OK && write_ok) return Outcome::Done;
  why = std::string(err[0] ? err : curl_easy_strerror(rc));
  if (status == 416 && have > 0) return Outcome::Done;  // the .part file was already complete
  if (rc == CURLE_RANGE_ERROR) return Outcome::Restart;  // server ignores Range: start over
  if (rc == CURLE_HTTP_RETURNED_ERROR) return Outcome::Fatal;
  if (!write_ok) {
    why = "cannot write '" + part + "' (disk full?)";
    return Outcome::Fatal;
  }
  return Outcome::Retry;  // cut connection, timeout, DNS hiccup: resume
}

}  // namespace

bool download_supported() { return true; }

void download_file(const std::string& url, const std::string& dest, const DownloadOptions& options) {
  global_init_once();
  const std::string part = dest + ".part";
  std::string why;
  for (int i = 0; i < std::max(1, options.attempts); ++i) {
    Outcome o = attempt(url, part, options, why);
    if (o == Outcome::Restart) {
      fs::remove(part);
      o = attempt(url, part, options, why);
    }
    if (o == Outcome::Done) {
      if (file_looks_like_html(part)) {
        fs::remove(part);
        throw DownloadError(detail::concat("'", url, "' returned a web page instead of the file ",
                                           "(a login wall or rate limit?); try another mirror or ",
                                           "download it in a browser and pass the path"));
      }
      fs::rename(part, dest);
      return;
    }
    if (o == Outcome::Fatal) {
      fs::remove(part);
      break;
    }
  }
  throw DownloadError(detail::concat("download of '", url, "' failed: ", why));
}

namespace {

// fetch_to_memory's sink: appends until max_bytes, then makes libcurl abort (CURLE_WRITE_ERROR).
struct MemoryTransfer {
  std::vector<uint8_t>* out = nullptr;
  int64_t max_bytes = 0;
  bool too_big = false;
};

size_t memory_write_cb(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<MemoryTransfer*>(user);
  const size_t len = size * n;
  if (int64_t(t->out->size() + len) > t->max_bytes) {
    t->too_big = true;
    return 0;
  }
  t->out->insert(t->out->end(), data, data + len);
  return len;
}

void set_fetch_options(CURL* curl, const std::string& url, const FetchOptions& options, MemoryTransfer* t,
                       char* err) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);  // requests.get follows redirects too
  curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, options.connect_timeout_s);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, options.timeout_s);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // timeouts without SIGALRM: safe in any thread
  curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(options.max_bytes));
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "disco-cpp");
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, memory_write_cb);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, t);
}

}  // namespace

std::vector<uint8_t> fetch_to_memory(const std::string& url, const FetchOptions& options) {
  global_init_once();
  std::vector<uint8_t> out;
  MemoryTransfer t{&out, options.max_bytes};
  char err[CURL_ERROR_SIZE] = {0};
  CURL* curl = curl_easy_init();
  DISCO_CHECK(curl, DownloadError, "could not start a download of '", url, "' (libcurl)");
  set_fetch_options(curl, url, options, &t, err);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(curl);
  DISCO_CHECK(!t.too_big && rc != CURLE_FILESIZE_EXCEEDED, DownloadError, "'", url, "' is larger than ",
              options.max_bytes >> 20, " MB, too large for an image; download it, make it smaller and give its path");
  DISCO_CHECK(rc != CURLE_OPERATION_TIMEDOUT, DownloadError, "'", url, "' did not answer in time (",
              options.connect_timeout_s, " s to connect, ", options.timeout_s, " s in all); check the URL and ",
              "the network, or download it and give its path");
  DISCO_CHECK(rc == CURLE_OK, DownloadError, "download of '", url, "' failed: ",
              err[0] ? err : curl_easy_strerror(rc), "; check the URL and the network");
  DISCO_CHECK(status < 400, DownloadError, "'", url, "' answered HTTP ", status,
              status == 404 ? " (not found)" : "", "; check the URL");
  return out;
}

#else  // no libcurl

std::vector<uint8_t> fetch_to_memory(const std::string& url, const FetchOptions&) {
  throw DownloadError(detail::concat("this build of disco has no download support (built without libcurl); ",
                                     "download '", url, "' yourself and give its path"));
}

bool download_supported() { return false; }

void download_file(const std::string& url, const std::string& dest, const DownloadOptions&) {
  (void)file_looks_like_html;
  throw DownloadError(detail::concat(
      "this build of disco has no download support (built without libcurl); download '", url,
      "' yourself and save it as '", dest, "', or pass the file with its --model/--clip option"));
}

#endif

}  // namespace disco::io
