#include "io/gzip.h"

#include <fstream>
#include <iterator>

#include "common/error.h"

#ifdef DISCO_HAVE_ZLIB
#include <zlib.h>
#endif

namespace disco::io {

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DISCO_CHECK(f, CheckpointError, "cannot open '", path, "': check that the file exists and is readable.");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  DISCO_CHECK(!f.bad(), CheckpointError, "error while reading '", path, "'.");
  return bytes;
}

bool is_gzip_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  DISCO_CHECK(f, CheckpointError, "cannot open '", path, "': check that the file exists and is readable.");
  unsigned char magic[2] = {0, 0};
  f.read(reinterpret_cast<char*>(magic), 2);
  return f.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

#ifdef DISCO_HAVE_ZLIB

bool gzip_supported() { return true; }

std::string read_gzip_file(const std::string& path) {
  const std::string in = read_file_bytes(path);
  DISCO_CHECK(in.size() >= 2 && static_cast<unsigned char>(in[0]) == 0x1f &&
                  static_cast<unsigned char>(in[1]) == 0x8b,
              CheckpointError, "'", path, "' is not a gzip file (it does not start with the bytes 1f 8b); ",
              "pass the original .gz file or its decompressed text.");
  std::string out;
  z_stream zs{};
  // 16 + MAX_WBITS: gzip wrapper only.
  DISCO_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, CheckpointError, "zlib failed to initialise while reading '",
              path, "'.");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  char buf[1 << 16];
  int rc = Z_OK;
  while (true) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (rc == Z_STREAM_END) {
      // Concatenated members are legal gzip; gzip -dc reads them all.
      if (zs.avail_in == 0) break;
      if (inflateReset(&zs) != Z_OK) break;
      continue;
    }
    if (rc != Z_OK) break;
    if (zs.avail_in == 0 && zs.avail_out != 0) {
      rc = Z_BUF_ERROR;  // input ended inside a member
      break;
    }
  }
  const char* msg = zs.msg;
  std::string detail = msg ? msg : (rc == Z_BUF_ERROR ? "unexpected end of file" : "zlib error");
  inflateEnd(&zs);
  DISCO_CHECK(rc == Z_STREAM_END, CheckpointError, "'", path, "' is a damaged gzip file (", detail,
              "); download it again.");
  return out;
}

#else

bool gzip_supported() { return false; }

std::string read_gzip_file(const std::string& path) {
  throw CheckpointError(detail::concat("'", path, "' is gzip-compressed but this build of disco-cpp has no zlib; ",
                                       "decompress it (gzip -dk '", path, "') and pass the .txt file instead, ",
                                       "or rebuild with zlib installed."));
}

#endif

}  // namespace disco::io
