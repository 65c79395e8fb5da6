#include "fetch/preflight.hpp"

#include <algorithm>

namespace sd35::fetch {

SpaceTally tally(const std::vector<Item>& items, const store::RepoCache& cache) {
  SpaceTally t;
  for (const auto& it : items) {
    t.total += it.size;
    std::error_code ec;
    if (it.cached)
      t.present += it.size;
    else if (auto n =
                 std::filesystem::file_size(cache.blob(it.blob_id).string() + ".incomplete", ec);
             !ec)
      t.present += std::min<std::uint64_t>(n, it.size);
  }
  return t;
}

std::uint64_t still_needed(const std::vector<Item>& items) {
  std::uint64_t n = 0;
  for (const auto& it : items)
    if (!it.cached) n += it.size;
  return n;
}

Status preflight(const std::filesystem::path& cache_dir, const SpaceTally& need,
                 const store::SpaceFn& space) {
  return store::require_space(cache_dir, need.total, need.present, space);
}

}  // namespace sd35::fetch
