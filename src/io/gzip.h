// Reading whole gzip files (the CLIP BPE vocabulary, models-spec §4).
#pragma once
#include <string>

namespace disco::io {

// True when the first two bytes of the file are the gzip magic 1f 8b. Throws CheckpointError if
// the file cannot be opened.
bool is_gzip_file(const std::string& path);

// True when this build can decompress (it was built with zlib).
bool gzip_supported();

// The decompressed contents of a .gz file (all members, as gzip -dc). Throws CheckpointError when
// the file is missing, not gzip, truncated or corrupt, or when the build has no zlib (the message
// says to decompress the file with `gzip -dk` and pass the .txt instead).
std::string read_gzip_file(const std::string& path);

// The raw bytes of a file. Throws CheckpointError if it cannot be read.
std::string read_file_bytes(const std::string& path);

}  // namespace disco::io
