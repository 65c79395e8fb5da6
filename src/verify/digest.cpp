#include "verify/digest.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <memory>
#include <thread>
#include <vector>

#include "util/cancel.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"

namespace sd35::verify {

namespace {

constexpr std::size_t kChunk = 16u << 20;  // large reads: fewer syscalls, readahead stays ahead

// RAII EVP SHA-1 (git blob ids); SHA-256 goes through util/sha256 like every other caller.
class Sha1 {
 public:
  Sha1() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_.get(), EVP_sha1(), nullptr); }
  void update(const void* p, std::size_t n) { EVP_DigestUpdate(ctx_.get(), p, n); }
  std::string hex() {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_.get(), out, &len);
    return to_hex(out, len);
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
};

std::string blob_prefix(std::uint64_t size) {
  return "blob " + std::to_string(size) + '\0';
}

}  // namespace

std::string git_blob_sha1(std::string_view data) {
  Sha1 h;
  const std::string prefix = blob_prefix(data.size());
  h.update(prefix.data(), prefix.size());
  h.update(data.data(), data.size());
  return h.hex();
}

Result<Digests> hash_file(const std::filesystem::path& path, bool want_git_sha1,
                          const HashProgress& progress) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fs::errno_error(errno, "cannot open file", path);
  const struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  // The git blob header needs the length up front; a file that grows while hashed fails the
  // size comparison afterwards.
  const off_t end = ::lseek(fd, 0, SEEK_END);
  if (end < 0 || ::lseek(fd, 0, SEEK_SET) < 0)
    return fs::errno_error(errno, "cannot seek in file", path);
  auto buf = std::unique_ptr<char[]>(new char[kChunk]);
  Sha256 sha256;
  std::unique_ptr<Sha1> sha1;
  if (want_git_sha1) {
    sha1 = std::make_unique<Sha1>();
    const std::string prefix = blob_prefix(static_cast<std::uint64_t>(end));
    sha1->update(prefix.data(), prefix.size());
  }
  Digests d;
  for (;;) {
    if (cancel_requested())
      return make_error(Errc::interrupted, "hashing interrupted", path.string());
    const ssize_t n = ::read(fd, buf.get(), kChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fs::errno_error(errno, "cannot read file", path);
    if (n == 0) break;
    sha256.update(buf.get(), static_cast<std::size_t>(n));
    if (sha1) sha1->update(buf.get(), static_cast<std::size_t>(n));
    d.size += static_cast<std::uint64_t>(n);
    if (progress) progress(d.size);
  }
  d.sha256 = sha256.hex_digest();
  if (sha1) {
    if (d.size != static_cast<std::uint64_t>(end)) {
      return make_error(Errc::io, "file changed size while it was hashed", path.string(),
                        "stop the process writing it and run verify again");
    }
    d.git_sha1 = sha1->hex();
  }
  return d;
}

void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const auto workers = static_cast<unsigned>(std::min<std::size_t>(threads, n));
  if (workers <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::jthread> pool;
  pool.reserve(workers);
  for (unsigned w = 0; w < workers; ++w) {
    pool.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) fn(i);
    });
  }
}

}  // namespace sd35::verify
