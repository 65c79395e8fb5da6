// PNG out: 8-bit RGB, zlib-deflated scanlines (a per-row filter chosen as libpng does), a CRC per
// chunk, and the run's parameters as text chunks (tEXt for Latin-1-safe ASCII values, iTXt for
// UTF-8 ones such as a non-English prompt). The fingerprint of an image is the SHA-256 of its raw
// pixels (row-major RGB bytes), independent of how the PNG was compressed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "util/result.hpp"

namespace sd35::image {

struct RgbImage {
  int width = 0;
  int height = 0;
  std::span<const std::uint8_t> pixels;  // width * height * 3 bytes, row-major
};

// (keyword, value): keywords are 1-79 printable Latin-1 characters (PNG 11.3.4.2).
using TextChunks = std::vector<std::pair<std::string, std::string>>;

// The PNG file's bytes. Errc::bad_input for a wrong pixel count, size or keyword.
Result<std::string> encode_png(const RgbImage& image, const TextChunks& text);

// encode_png, written atomically to `path`.
Status write_png(const std::filesystem::path& path, const RgbImage& image, const TextChunks& text);

// Lower-case hex SHA-256 of the raw pixels.
std::string pixel_fingerprint(std::span<const std::uint8_t> pixels);

// CRC-32 of a chunk's type and data, as PNG defines it (zlib's crc32).
std::uint32_t chunk_crc(std::string_view type_and_data);

}  // namespace sd35::image
