// Ports on 127.0.0.1 for the network tests: one nothing listens on (connection refused), and one
// that accepts connections and never sends a byte (every client waits for its timeout).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace sd35::testing {

// A TCP socket bound to an ephemeral port of 127.0.0.1, and that port; {-1, 0} when none could be
// bound.
struct BoundSocket {
  int fd = -1;
  int port = 0;
};

inline BoundSocket bind_loopback() {
  BoundSocket b;
  b.fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (b.fd < 0) return b;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(b.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(b.fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    b.port = ntohs(a.sin_port);
  return b;
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then closed); 0 when none could be bound.
inline int refused_port() {
  const BoundSocket b = bind_loopback();
  if (b.fd >= 0) ::close(b.fd);
  return b.port;
}

// A TCP port on 127.0.0.1 that accepts connections (the kernel completes them into the backlog)
// and never sends a byte. The socket lives as long as the test process.
inline int silent_port() {
  const BoundSocket b = bind_loopback();
  if (b.fd >= 0) ::listen(b.fd, 64);
  return b.port;
}

}  // namespace sd35::testing
