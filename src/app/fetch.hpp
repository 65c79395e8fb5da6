// `sd35-setup fetch`: the model's files at a pinned revision into the Hugging Face cache, via a
// bare git repository (libgit2) for the tree and the Git LFS batch API + transfer engine for the
// large files. Documented in docs/fetch.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "app/context.hpp"
#include "store/space.hpp"

namespace sd35::app {

struct FetchOptions {
  std::string repo;                  // org/name or URL; empty: the manifest's
  std::string revision;              // branch, tag or commit; empty: the manifest's
  std::vector<std::string> include;  // globs; empty: the manifest's files
  int jobs = 8;
  bool bearer = false;  // --auth bearer
  int stall_timeout_s = 30;
  std::string ca_file;  // --ca-file: CA certificates for TLS (wins over SSL_CERT_FILE & co.)
  std::uint64_t range_threshold = 64ull << 20;
  std::uint64_t min_range = 16ull << 20;
  // Free space at a path; tests inject a small number to exercise the preflight.
  store::SpaceFn space;
};

Result<Outcome> fetch(const GlobalOptions& global, const FetchOptions& options, Reporter& reporter);

}  // namespace sd35::app
