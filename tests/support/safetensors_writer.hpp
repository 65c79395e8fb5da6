// Test helper: builds safetensors files byte by byte, including deliberately broken ones.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/test_env.hpp"

namespace sd35::testing {

struct StTensor {
  std::string name;
  std::string dtype;
  std::vector<std::uint64_t> shape;
  std::string bytes;  // raw little-endian data
};

inline std::string f32_bytes(const std::vector<float>& values) {
  std::string out(values.size() * 4, '\0');
  std::memcpy(out.data(), values.data(), out.size());
  return out;
}

inline std::string filled(std::size_t n, char c = '\x11') {
  return std::string(n, c);
}

// Header JSON for tensors packed back to back in the given order.
inline nlohmann::json st_header(const std::vector<StTensor>& tensors,
                                const std::map<std::string, std::string>& metadata = {}) {
  nlohmann::json h = nlohmann::json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::uint64_t at = 0;
  for (const auto& t : tensors) {
    h[t.name] = {
        {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {at, at + t.bytes.size()}}};
    at += t.bytes.size();
  }
  return h;
}

// 8-byte little-endian length + header text (space-padded to 8 like the reference writer) + data.
inline std::string st_file_raw(std::string header_text, const std::string& data, bool pad = true) {
  if (pad) header_text.resize((header_text.size() + 7) / 8 * 8, ' ');
  std::string out(8, '\0');
  std::uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i)
    out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + header_text + data;
}

inline std::string st_file(const std::vector<StTensor>& tensors,
                           const std::map<std::string, std::string>& metadata = {}) {
  std::string data;
  for (const auto& t : tensors) data += t.bytes;
  return st_file_raw(st_header(tensors, metadata).dump(), data);
}

inline void write_bytes(const std::filesystem::path& p, const std::string& bytes) {
  std::filesystem::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A fresh, empty directory under the system temp dir, removed by the destructor.
// Scratch directories come from the shared test support.
using TempDir = sd35::test::TempDir;

}  // namespace sd35::testing
