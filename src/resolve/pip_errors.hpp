// pip failed: what its message says, sorted into the exit-code classes of docs/cli.md. pip's
// network failures (connection refused, DNS, TLS, timeouts, proxies, HTTP errors from the index)
// are network errors with a hint naming what to check; a wheel whose hash differs is an integrity
// error; anything else keeps the caller's code. The message is pip's whole stderr (whole lines).
#pragma once

#include <string>
#include <string_view>

#include "util/error.hpp"
#include "util/process.hpp"

namespace sd35::resolve {

struct PipFailureContext {
  std::string what;   // "pip could not resolve the environment"
  std::string where;  // the interpreter
  Errc otherwise;     // the code when it is neither network nor a hash mismatch
  std::string hint;   // the hint then
};

Error pip_failure(const proc::Outcome& outcome, const PipFailureContext& context);

// pip's stderr, trimmed, at most `max_bytes` of its last whole lines.
std::string pip_message(std::string_view err, std::size_t max_bytes = 16384);

}  // namespace sd35::resolve
