// libgit2 1.5 has no network timeouts: a server (or proxy) that accepts the connection and then
// goes silent blocks the git step for ever. The tool registers its own plain socket stream with
// libgit2 (its TLS stream runs over the plain one, so https is covered too): connecting, and each
// read or write, give up after the fetch's stall timeout with "... timed out after N s".
#pragma once

#include <chrono>

namespace sd35::git {

// Installs the stream (once per process) and sets the timeout every later connection uses.
void set_network_timeout(std::chrono::seconds timeout);

}  // namespace sd35::git
