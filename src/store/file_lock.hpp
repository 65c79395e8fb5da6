// An advisory lock file (flock) so that two sd35-setup processes sharing one cache never write the
// same blob or the same bare repository at once. Released on destruction or process death; on
// filesystems where flock silently succeeds (some NFS), the hashes and atomic renames still keep
// the cache correct, only the duplicate work is no longer avoided.
#pragma once

#include <filesystem>
#include <optional>

#include "util/result.hpp"

namespace sd35::store {

class FileLock {
 public:
  // nullopt when another process holds it; an error when the lock file cannot be created.
  static Result<std::optional<FileLock>> try_acquire(const std::filesystem::path& path);
  // Waits (polling, so Ctrl-C still works) until the lock is ours.
  static Result<FileLock> acquire(const std::filesystem::path& path);

  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&& o) noexcept;
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace sd35::store
