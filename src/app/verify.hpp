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
};

// Content (size, sha256 / git blob id, pointer files), safetensors structure, model audit
// (layout, family, dims, dtypes, FP8 scales) and cache/disk checks; exit 4 on any failed
// required finding. docs/verify.md lists every finding id.
Result<Outcome> verify(const GlobalOptions& global, const VerifyOptions& options,
                       Reporter& reporter);

}  // namespace sd35::app
