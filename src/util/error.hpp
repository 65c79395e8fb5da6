// The closed set of failure kinds every layer reports, and the error value that carries one.
// Low layers return Result<T>; only src/app maps an Errc to a process exit code.
#pragma once

#include <string>
#include <string_view>

namespace sd35 {

enum class Errc {
  internal,             // a bug or an impossible state
  usage,                // bad command line
  bad_input,            // a file the user gave is malformed (manifest, host facts, lockfile)
  unsupported_version,  // schema_version from the future, a format we do not read
  not_found,            // a remote repo, revision, file or object does not exist (HTTP 404)
  io,                   // read/write/stat failure
  permission,           // EACCES/EPERM
  disk_full,            // not enough space (preflight or ENOSPC)
  network,              // DNS, connect, TLS, reset, 5xx after retries
  timeout,              // stall watchdog or deadline
  auth,                 // 401: token missing or invalid
  gated,                // 403: licence not accepted / token lacks access
  rate_limited,         // 429 after retries
  integrity,            // hash or size mismatch, corrupt content
  host_not_ready,       // a required check failed; nothing resolvable
  verification_failed,  // verify found a failed finding
  interrupted,          // SIGINT/SIGTERM
  unavailable,          // a capability this build or host lacks (no CUDA, no float8)
  missing_file,         // a local file, directory or program the user named does not exist
};

std::string_view to_string(Errc code) noexcept;

// What happened, where, and what to do: every message the user sees has all three.
struct Error {
  Errc code = Errc::internal;
  std::string message;     // what happened, one sentence
  std::string where;       // file:line:col, JSON pointer, URL (redacted), path, oid...
  std::string hint;        // what to do about it
  bool permanent = false;  // retrying cannot help (e.g. an untrusted TLS certificate)

  // "message (where)" plus "\n  hint: ..." when present.
  [[nodiscard]] std::string describe() const;
};

inline Error make_error(Errc code, std::string message, std::string where = {},
                        std::string hint = {}) {
  return Error{code, std::move(message), std::move(where), std::move(hint)};
}

}  // namespace sd35
