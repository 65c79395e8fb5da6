// libgit2 behind a small RAII + error-capture layer. The tool keeps a bare repository per model
// OUTSIDE the snapshot (<cache>/.sd35-git/models--org--name.git): no checkout, no filters, no
// smudge; the LFS module does the large files. Credentials reach libgit2 only through its
// credential callback, so they never land in a URL or in the bare repo's config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "net/http.hpp"
#include "net/transport.hpp"
#include "util/result.hpp"

struct git_repository;

namespace sd35::git {

// git_libgit2_init once per process (idempotent, thread-safe); shutdown is left to process exit.
void ensure_initialized();

struct TreeEntry {
  std::string path;     // '/'-separated, repo-relative
  std::string blob_id;  // 40-hex git blob sha1
  std::uint64_t size = 0;
  bool executable = false;
};

struct FetchedRevision {
  std::string commit;    // 40 hex
  std::string ref_name;  // "refs/heads/main", "refs/tags/v1", or empty when a commit was asked for
  bool fetched = false;  // false when the commit was already in the bare repo
};

class BareRepo {
 public:
  // Opens or creates the bare repository at `path`.
  static Result<BareRepo> open_or_init(const std::filesystem::path& path);
  BareRepo(BareRepo&&) noexcept;
  BareRepo& operator=(BareRepo&&) noexcept;
  ~BareRepo();

  // Resolves `revision` (branch, tag or 40-hex commit) at `url` and fetches what is missing.
  // A commit already present locally needs no network. `transport` (may be null) gives the proxy
  // and the CA certificates (the latter for the whole process: a libgit2 global).
  Result<FetchedRevision> fetch(const std::string& url, const std::string& revision,
                                const net::Credentials* credentials,
                                const net::Transport* transport = nullptr);
  // Every regular blob of the commit's tree (submodules and symlinks are skipped).
  Result<std::vector<TreeEntry>> list_tree(const std::string& commit) const;
  // The blob's bytes (for pointers and small regular files).
  Result<std::string> read_blob(const std::string& blob_id) const;
  // Streams a blob to `dest` (write to temp, then rename).
  Status export_blob(const std::string& blob_id, const std::filesystem::path& dest) const;
  [[nodiscard]] const std::filesystem::path& path() const { return path_; }

 private:
  BareRepo(git_repository* repo, std::filesystem::path path)
      : repo_(repo), path_(std::move(path)) {}
  git_repository* repo_ = nullptr;
  std::filesystem::path path_;
};

}  // namespace sd35::git
