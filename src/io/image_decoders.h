// The per-format decoders behind io::read_image / io::decode_image (image_read.cpp). Each one
// takes the whole encoded file in memory and returns what PIL's Image.open(f).convert("RGB")
// returns for it. `name` (a path or URL) is only used in error messages.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "io/image.h"

namespace disco::io::decoders {

// The whole file, for the decoders; CheckpointError naming it when it cannot be read.
std::vector<uint8_t> read_whole_file(const std::string& path);

// Refuses a decoded size above kMaxImagePixels before any pixel buffer is allocated.
void check_image_size(int64_t width, int64_t height, const std::string& name);

Image8 decode_png_rgb(const uint8_t* data, size_t size, const std::string& name);   // image.cpp
Image8 decode_jpeg_rgb(const uint8_t* data, size_t size, const std::string& name);  // image_jpeg.cpp
Image8 decode_webp_rgb(const uint8_t* data, size_t size, const std::string& name);  // image_webp.cpp

}  // namespace disco::io::decoders
