// The low-level SHA256_* API is deprecated in OpenSSL 3 but is the only one whose context is a
// plain struct we can save for resume; it runs the same assembly as EVP.
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include "util/sha256.hpp"

#include <fcntl.h>
#include <openssl/sha.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "util/fs.hpp"

static_assert(sizeof(SHA256_CTX) == sd35::Sha256::kStateBytes, "unexpected SHA256_CTX size");

namespace sd35 {
namespace {
SHA256_CTX* ctx_of(std::array<std::uint8_t, Sha256::kStateBytes>& raw) {
  return reinterpret_cast<SHA256_CTX*>(raw.data());
}
}  // namespace

Sha256::Sha256() {
  SHA256_Init(ctx_of(ctx_));
}

void Sha256::update(const void* data, std::size_t len) {
  SHA256_Update(ctx_of(ctx_), data, len);
}

std::array<std::uint8_t, 32> Sha256::digest() {
  std::array<std::uint8_t, 32> out{};
  SHA256_Final(out.data(), ctx_of(ctx_));
  return out;
}

std::string Sha256::hex_digest() {
  auto d = digest();
  return to_hex(d.data(), d.size());
}

std::string Sha256::export_state() const {
  return std::string(reinterpret_cast<const char*>(ctx_.data()), ctx_.size());
}

Result<Sha256> Sha256::import_state(std::string_view state) {
  if (state.size() != kStateBytes)
    return make_error(Errc::bad_input, "saved hash state has the wrong size", {},
                      "the download restarts from zero");
  Sha256 h;
  std::memcpy(h.ctx_.data(), state.data(), kStateBytes);
  return h;
}

std::string to_hex(const std::uint8_t* data, std::size_t len) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (std::size_t i = 0; i < len; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.hex_digest();
}

Result<std::string> sha256_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fs::errno_error(errno, "cannot open file", path);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  constexpr std::size_t kChunk = 4u << 20;
  auto buf = std::make_unique<char[]>(kChunk);
  Sha256 h;
  for (;;) {
    ssize_t n = ::read(fd, buf.get(), kChunk);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return fs::errno_error(e, "cannot read file", path);
    }
    if (n == 0) break;
    h.update(buf.get(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return h.hex_digest();
}

}  // namespace sd35
