// Streaming SHA-256 on OpenSSL's implementation (SHA-NI / AVX2 where the CPU has them).
// The state can be exported and re-imported so a download can resume hashing where it stopped.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace sd35 {

class Sha256 {
 public:
  static constexpr std::size_t kStateBytes = 112;  // sizeof(SHA256_CTX) on every platform we build

  Sha256();
  void update(const void* data, std::size_t len);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // Finishes and returns lowercase hex; the object must not be updated afterwards.
  std::string hex_digest();
  std::array<std::uint8_t, 32> digest();

  // Opaque resumable state (the raw context bytes), valid only on the same OpenSSL build family.
  [[nodiscard]] std::string export_state() const;
  static Result<Sha256> import_state(std::string_view state);

 private:
  alignas(8) std::array<std::uint8_t, kStateBytes> ctx_{};
};

std::string sha256_hex(std::string_view data);
// Hashes a whole file with large sequential reads.
Result<std::string> sha256_file(const std::filesystem::path& path);
std::string to_hex(const std::uint8_t* data, std::size_t len);

}  // namespace sd35
