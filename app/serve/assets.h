// The page's files (app/serve/web), compiled into the binary by embed_assets.cmake.
#pragma once
#include <cstddef>
#include <string>

namespace disco::serve {

struct Asset {
  const char* path;          // "/index.html", "/app.js", ...
  const char* content_type;  // from the file's extension
  const unsigned char* data;
  size_t size;
};

// The asset at `path`, or nullptr: only these names are ever served, never a file on disk.
const Asset* find_asset(const std::string& path);

}  // namespace disco::serve
