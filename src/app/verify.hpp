#pragma once

#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct VerifyOptions {
  std::string path;   // verify this directory instead of the manifest's cache snapshot
  bool full = false;  // rehash every file even when the state file says it is unchanged
  std::string
      lock_file;         // --lock FILE: expectations from a lockfile (the lock stage implements it)
  unsigned threads = 0;  // hashing threads; 0 = one per core
  // With --lock (app/verify_lock.hpp): the gate's extra inputs.
  std::string lock_venv;    // --venv DIR: also check the installed wheels
  bool lock_smoke = false;  // --smoke: re-run the smoke test and compare its fingerprint
  std::string junit;        // --junit FILE
  std::string host_file;    // --host FILE
};

// Content (size, sha256 / git blob id, pointer files), safetensors structure, model audit
// (layout, family, dims, dtypes, FP8 scales) and cache/disk checks; exit 4 on any failed
// required finding. docs/verify.md lists every finding id.
Result<Outcome> verify(const GlobalOptions& global, const VerifyOptions& options,
                       Reporter& reporter);

}  // namespace sd35::app
