#include "store/snapshot_lookup.hpp"

#include <fmt/format.h>

namespace sd35::store {

std::string SnapshotLookup::problem() const {
  if (exists) return {};
  if (!commit)
    return fmt::format("{} is not in the cache {} (no refs/{})", repo_id,
                       cache.root.parent_path().string(), revision);
  return fmt::format("{} has no snapshot {} (revision {})", cache.root.string(), *commit, revision);
}

Result<SnapshotLookup> find_snapshot(const std::filesystem::path& cache_dir, std::string_view repo,
                                     std::string_view revision) {
  SnapshotLookup s;
  SD35_TRY(s.repo_id, repo_id_from(repo));
  s.revision = std::string(revision);
  s.cache = repo_cache(cache_dir, s.repo_id);
  s.commit = s.cache.commit_for(revision);
  if (!s.commit) return s;
  s.path = s.cache.snapshot(*s.commit);
  std::error_code ec;
  s.exists = std::filesystem::is_directory(s.path, ec);
  return s;
}

}  // namespace sd35::store
