#include "image/png.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <array>
#include <cstdlib>

#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35::image {
namespace {

constexpr std::array<unsigned char, 8> kSignature{0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

void put_u32(std::string& out, std::uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xFF));
  out.push_back(static_cast<char>((v >> 16) & 0xFF));
  out.push_back(static_cast<char>((v >> 8) & 0xFF));
  out.push_back(static_cast<char>(v & 0xFF));
}

void put_chunk(std::string& out, std::string_view type, std::string_view data) {
  put_u32(out, static_cast<std::uint32_t>(data.size()));
  std::string body(type);
  body += data;
  out += body;
  put_u32(out, chunk_crc(body));
}

int paeth(int a, int b, int c) {
  const int p = a + b - c;
  const int pa = std::abs(p - a);
  const int pb = std::abs(p - b);
  const int pc = std::abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

// One filtered scanline (filter byte first): of the five filters, the one with the smallest sum of
// absolute signed residuals (libpng's heuristic).
void filter_row(const std::uint8_t* row, const std::uint8_t* prev, std::size_t n,
                std::string& out) {
  constexpr std::size_t bpp = 3;
  std::array<std::string, 5> candidates;
  long best_sum = -1;
  std::size_t best = 0;
  for (std::size_t f = 0; f < 5; ++f) {
    std::string& line = candidates[f];
    line.resize(n + 1);
    line[0] = static_cast<char>(f);
    long sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const int a = i >= bpp ? row[i - bpp] : 0;
      const int b = prev ? prev[i] : 0;
      const int c = prev && i >= bpp ? prev[i - bpp] : 0;
      const int predictor = f == 0   ? 0
                            : f == 1 ? a
                            : f == 2 ? b
                            : f == 3 ? (a + b) / 2
                                     : paeth(a, b, c);
      const auto v = static_cast<std::uint8_t>(row[i] - predictor);
      line[i + 1] = static_cast<char>(v);
      sum += v < 128 ? v : 256 - v;
    }
    if (best_sum < 0 || sum < best_sum) {
      best_sum = sum;
      best = f;
    }
  }
  out += candidates[best];
}

Result<std::string> deflate_all(const std::string& raw) {
  uLongf size = compressBound(static_cast<uLong>(raw.size()));
  std::string out(size, '\0');
  const int rc =
      compress2(reinterpret_cast<Bytef*>(out.data()), &size,
                reinterpret_cast<const Bytef*>(raw.data()), static_cast<uLong>(raw.size()), 9);
  if (rc != Z_OK)
    return make_error(Errc::internal, fmt::format("zlib compress2 failed ({})", rc), "png",
                      "report this with the image size");
  out.resize(size);
  return out;
}

bool latin1_printable(unsigned char c) {
  return (c >= 32 && c <= 126) || c >= 161;
}

Status check_keyword(const std::string& key) {
  bool ok = !key.empty() && key.size() <= 79 && key.front() != ' ' && key.back() != ' ' &&
            key.find("  ") == std::string::npos;
  for (unsigned char c : key) ok = ok && latin1_printable(c) && c < 128;
  if (!ok)
    return make_error(Errc::bad_input, fmt::format("\"{}\" is not a PNG text keyword", key), "png",
                      "use 1-79 printable ASCII characters, no leading/trailing/double spaces");
  return {};
}

// tEXt when the value is printable ASCII (+ newline), else iTXt (UTF-8, uncompressed).
void put_text(std::string& out, const std::string& key, const std::string& value) {
  bool ascii = true;
  for (unsigned char c : value) ascii = ascii && ((c >= 32 && c <= 126) || c == '\n');
  std::string data = key;
  data.push_back('\0');
  if (ascii) {
    data += value;
    put_chunk(out, "tEXt", data);
    return;
  }
  data.push_back('\0');  // compression flag: uncompressed
  data.push_back('\0');  // compression method
  data.push_back('\0');  // language tag: none
  data.push_back('\0');  // translated keyword: none
  data += value;
  put_chunk(out, "iTXt", data);
}

}  // namespace

std::uint32_t chunk_crc(std::string_view type_and_data) {
  return static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(type_and_data.data()),
                                          static_cast<uInt>(type_and_data.size())));
}

Result<std::string> encode_png(const RgbImage& image, const TextChunks& text) {
  if (image.width <= 0 || image.height <= 0 || image.width > (1 << 16) || image.height > (1 << 16))
    return make_error(Errc::bad_input,
                      fmt::format("image size {}x{} is out of range", image.width, image.height),
                      "png", "width and height must be 1..65536");
  const auto w = static_cast<std::size_t>(image.width);
  const auto h = static_cast<std::size_t>(image.height);
  if (image.pixels.size() != w * h * 3)
    return make_error(Errc::bad_input,
                      fmt::format("{} pixel bytes for a {}x{} RGB image (needs {})",
                                  image.pixels.size(), image.width, image.height, w * h * 3),
                      "png", "pass height * width * 3 bytes, row-major RGB");
  for (const auto& [key, value] : text) SD35_TRY_STATUS(check_keyword(key));
  std::string raw;
  raw.reserve(h * (w * 3 + 1));
  const std::uint8_t* px = image.pixels.data();
  for (std::size_t y = 0; y < h; ++y)
    filter_row(px + y * w * 3, y == 0 ? nullptr : px + (y - 1) * w * 3, w * 3, raw);
  SD35_TRY(std::string idat, deflate_all(raw));
  std::string out(kSignature.begin(), kSignature.end());
  std::string ihdr;
  put_u32(ihdr, static_cast<std::uint32_t>(w));
  put_u32(ihdr, static_cast<std::uint32_t>(h));
  ihdr +=
      std::string{'\x08', '\x02', '\0', '\0', '\0'};  // 8 bit, RGB, deflate, adaptive, no interlace
  put_chunk(out, "IHDR", ihdr);
  for (const auto& [key, value] : text) put_text(out, key, value);
  put_chunk(out, "IDAT", idat);
  put_chunk(out, "IEND", "");
  return out;
}

Status write_png(const std::filesystem::path& path, const RgbImage& image, const TextChunks& text) {
  SD35_TRY(std::string bytes, encode_png(image, text));
  return fs::write_file_atomic(path, bytes);
}

std::string pixel_fingerprint(std::span<const std::uint8_t> pixels) {
  return sha256_hex(std::string_view(reinterpret_cast<const char*>(pixels.data()), pixels.size()));
}

}  // namespace sd35::image
