#include "util/fs.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace sd35::fs {

Error errno_error(int err, std::string_view what, const stdfs::path& path) {
  Errc code = Errc::io;
  std::string hint;
  switch (err) {
    case ENOENT:
      code = Errc::missing_file;
      hint = "check the path: it does not exist";
      break;
    case EACCES:
    case EPERM:
    case EROFS:
      code = Errc::permission;
      hint = "check ownership and permissions, or choose another directory";
      break;
    case ENOSPC:
    case EDQUOT:
      code = Errc::disk_full;
      hint = "free space or point --cache elsewhere";
      break;
    default:
      break;
  }
  return make_error(code, fmt::format("{}: {}", what, std::strerror(err)), path.string(), hint);
}

Result<std::string> read_file(const stdfs::path& path, std::size_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(errno, "cannot open file", path);
  std::string out;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return errno_error(e, "cannot read file", path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      return make_error(Errc::bad_input, fmt::format("file is larger than {} bytes", max_bytes),
                        path.string(), "pass the right file");
    }
  }
  ::close(fd);
  return out;
}

Status write_file_atomic(const stdfs::path& path, std::string_view contents, Flush flush) {
  std::error_code ec;
  if (path.has_parent_path()) stdfs::create_directories(path.parent_path(), ec);
  stdfs::path tmp = path;
  tmp += fmt::format(".tmp.{}", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error(errno, "cannot create file", tmp);
  const char* p = contents.data();
  std::size_t left = contents.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return errno_error(e, "cannot write file", tmp);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if ((flush == Flush::yes && ::fsync(fd) != 0) || ::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errno_error(e, "cannot flush file", tmp);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return errno_error(e, "cannot rename into place", path);
  }
  return ok();
}

std::optional<std::string> read_first_line(const stdfs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::string line;
  if (!std::getline(in, line)) return std::string{};
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

stdfs::path nearest_existing(const stdfs::path& path) {
  std::error_code ec;
  stdfs::path p = path.is_absolute() ? path : stdfs::absolute(path, ec);
  while (!p.empty() && !stdfs::exists(p, ec)) {
    if (p == p.parent_path()) break;
    p = p.parent_path();
  }
  return p.empty() ? stdfs::path("/") : p;
}

Result<SpaceInfo> space(const stdfs::path& path) {
  struct statvfs st {};
  stdfs::path at = nearest_existing(path);
  if (::statvfs(at.c_str(), &st) != 0) return errno_error(errno, "cannot stat filesystem", at);
  SpaceInfo info;
  info.free_bytes = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  info.total_bytes = static_cast<std::uint64_t>(st.f_blocks) * st.f_frsize;
  return info;
}

}  // namespace sd35::fs
