#include "store/file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "util/cancel.hpp"
#include "util/fs.hpp"

namespace sd35::store {

Result<std::optional<FileLock>> FileLock::try_acquire(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return fs::errno_error(errno, "cannot create the lock file", path);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return std::optional<FileLock>{};
    if (err == ENOLCK || err == EOPNOTSUPP)
      return std::optional<FileLock>{FileLock(-1)};  // no locking here
    return fs::errno_error(err, "cannot lock", path);
  }
  return std::optional<FileLock>{FileLock(fd)};
}

Result<FileLock> FileLock::acquire(const std::filesystem::path& path) {
  for (;;) {
    SD35_TRY(auto lock, try_acquire(path));
    if (lock) return std::move(*lock);
    if (cancel_requested())
      return make_error(Errc::interrupted, "interrupted while waiting for a lock", path.string());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  std::swap(fd_, o.fd_);
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace sd35::store
