#include "git/socket_stream.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <git2.h>
#include <git2/sys/stream.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "git/git_repo.hpp"
#include "util/cancel.hpp"

namespace sd35::git {
namespace {

std::atomic<int> g_timeout_s{60};

struct SocketStream {
  git_stream parent{};  // first member: libgit2 hands back a git_stream*
  std::string host, port;
  int fd = -1;
};

SocketStream* self(git_stream* s) {
  return reinterpret_cast<SocketStream*>(s);
}

std::string endpoint(const SocketStream* st) {
  return st->host + ":" + st->port;
}

int fail(const std::string& message) {
  git_error_set_str(GIT_ERROR_NET, message.c_str());
  return -1;
}

// Waits for `events` on fd; 1 ready, 0 timed out, -1 failed (errno set).
int wait_for(int fd, short events) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, g_timeout_s.load() * 1000);
    if (rc >= 0 || errno != EINTR || cancel_requested()) return rc;
  }
}

// A non-blocking connect bounded by the timeout; the socket stays non-blocking (reads and writes
// poll first). Returns the fd, or -1 with errno set (ETIMEDOUT when the peer never answered).
int connect_one(const addrinfo* a) {
  const int fd =
      ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
  if (fd < 0) return -1;
  if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) return fd;
  int err = errno;
  if (err == EINPROGRESS) {
    const int rc = wait_for(fd, POLLOUT);
    socklen_t len = sizeof err;
    if (rc == 0)
      err = ETIMEDOUT;
    else if (rc < 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
      err = errno;
    if (err == 0) return fd;
  }
  ::close(fd);
  errno = err;
  return -1;
}

int stream_connect(git_stream* s) {
  SocketStream* st = self(s);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(st->host.c_str(), st->port.c_str(), &hints, &found); rc != 0)
    return fail(fmt::format("failed to resolve address for {}: {}", st->host, gai_strerror(rc)));
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> list(found, &::freeaddrinfo);
  int err = 0;
  for (const addrinfo* a = found; a && st->fd < 0; a = a->ai_next) {
    st->fd = connect_one(a);
    if (st->fd < 0) err = errno;
  }
  if (st->fd >= 0) return 0;
  if (err == ETIMEDOUT)
    return fail(fmt::format("failed to connect to {}: connection timed out after {} s",
                            endpoint(st), g_timeout_s.load()));
  return fail(fmt::format("failed to connect to {}: {}", endpoint(st), std::strerror(err)));
}

// One read or write, after waiting (bounded) until the socket is ready.
template <typename Op>
ssize_t io(SocketStream* st, short events, const char* what, Op op) {
  for (;;) {
    const ssize_t n = op();
    if (n >= 0) return n;
    if (errno == EINTR && !cancel_requested()) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return fail(fmt::format("{} {}: {}", what, endpoint(st), std::strerror(errno)));
    const int rc = wait_for(st->fd, events);
    if (rc == 0)
      return fail(fmt::format("{} {} timed out after {} s without data (--stall-timeout)", what,
                              endpoint(st), g_timeout_s.load()));
    if (rc < 0) return fail(fmt::format("{} {}: {}", what, endpoint(st), std::strerror(errno)));
  }
}

ssize_t stream_read(git_stream* s, void* data, size_t len) {
  SocketStream* st = self(s);
  return io(st, POLLIN, "reading from", [&] { return ::recv(st->fd, data, len, 0); });
}

ssize_t stream_write(git_stream* s, const char* data, size_t len, int /*flags*/) {
  SocketStream* st = self(s);
  return io(st, POLLOUT, "writing to", [&] { return ::send(st->fd, data, len, MSG_NOSIGNAL); });
}

int stream_close(git_stream* s) {
  SocketStream* st = self(s);
  if (st->fd >= 0) ::close(st->fd);
  st->fd = -1;
  return 0;
}

void stream_free(git_stream* s) {
  delete self(s);
}  // NOLINT(cppcoreguidelines-owning-memory)

int stream_init(git_stream** out, const char* host, const char* port) {
  auto st = std::make_unique<SocketStream>();
  st->parent = git_stream{};
  st->parent.version = GIT_STREAM_VERSION;
  st->parent.connect = stream_connect;
  st->parent.read = stream_read;
  st->parent.write = stream_write;
  st->parent.close = stream_close;
  st->parent.free = stream_free;
  st->host = host;
  st->port = port;
  *out = &st.release()->parent;
  return 0;
}

}  // namespace

void set_network_timeout(std::chrono::seconds timeout) {
  g_timeout_s.store(static_cast<int>(std::max<std::chrono::seconds::rep>(1, timeout.count())));
  ensure_initialized();  // the registry exists only after git_libgit2_init
  static std::once_flag once;
  std::call_once(once, [] {
    git_stream_registration reg{};
    reg.version = GIT_STREAM_VERSION;
    reg.init = stream_init;
    git_stream_register(GIT_STREAM_STANDARD, &reg);
  });
}

}  // namespace sd35::git
