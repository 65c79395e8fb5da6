// Hashing model files fast: one large sequential read per file feeds SHA-256 (the LFS oid) and,
// when asked, SHA-1 of "blob <len>\0" + content (the git blob id of a regular file) in one pass.
// SHA-256 is sequential within a file, so parallelism is across files (parallel_for).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "util/result.hpp"

namespace sd35::verify {

struct Digests {
  std::uint64_t size = 0;
  std::string sha256;    // lowercase hex
  std::string git_sha1;  // lowercase hex; empty unless requested
};

// Called after every read with the bytes hashed so far.
using HashProgress = std::function<void(std::uint64_t done)>;

// Reads `path` once in 16 MiB chunks (posix_fadvise SEQUENTIAL). Errc::interrupted on SIGINT.
Result<Digests> hash_file(const std::filesystem::path& path, bool want_git_sha1,
                          const HashProgress& progress = {});

// Git blob id of an in-memory buffer: sha1("blob <len>\0" + data).
std::string git_blob_sha1(std::string_view data);

// Runs fn(i) for i in [0, n) on up to `threads` threads (0: hardware concurrency), handing out
// indices in order so the largest files should come first in the caller's list.
void parallel_for(std::size_t n, unsigned threads, const std::function<void(std::size_t)>& fn);

}  // namespace sd35::verify
