// The one way to find a repository's snapshot in the Hugging Face cache: repo -> models--org--name,
// revision -> commit (the revision itself when it is 40 hex, else refs/<revision>), commit ->
// snapshots/<commit>. fetch (offline), verify, smoke's weights lookup and the lock all call it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "store/hf_cache_layout.hpp"
#include "util/result.hpp"

namespace sd35::store {

struct SnapshotLookup {
  std::string repo_id;  // "org/name"
  std::string revision;
  RepoCache cache;                    // <cache>/models--org--name
  std::optional<std::string> commit;  // nullopt: the cache does not know the revision
  std::filesystem::path path;         // snapshots/<commit>; empty without a commit
  bool exists = false;                // the snapshot folder is there

  // Why there is no snapshot, in words ("" when there is one): "org/name is not in the cache
  // /c (no refs/main)" or "/c/models--org--name has no snapshot <commit> (revision main)".
  [[nodiscard]] std::string problem() const;
};

// Fails only when `repo` names no repository (bad_input); a missing snapshot is a lookup with
// exists=false.
Result<SnapshotLookup> find_snapshot(const std::filesystem::path& cache_dir, std::string_view repo,
                                     std::string_view revision);

}  // namespace sd35::store
