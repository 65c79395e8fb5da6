#include "fetch/offline.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "store/snapshot_lookup.hpp"

namespace sd35::fetch {
namespace {

namespace sfs = std::filesystem;

constexpr const char* kOfflineHint =
    "run `sd35-setup fetch` with network access first, or unset HF_HUB_OFFLINE";

// The selected files of the snapshot whose link target is there.
std::vector<std::string> cached_files(const sfs::path& snap, const RepoPlan& r) {
  std::vector<std::string> found;
  std::error_code ec;
  if (!sfs::is_directory(snap, ec)) return found;
  for (auto it = sfs::recursive_directory_iterator(snap, ec);
       it != sfs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->is_directory()) continue;
    // Lexically: sfs::relative would follow the entry's link into blobs/.
    std::string rel = it->path().lexically_relative(snap).generic_string();
    if (selected(r.patterns, rel) && sfs::exists(it->path())) found.push_back(rel);
  }
  return found;
}

}  // namespace

Result<OfflineRepo> resolve_offline(const RepoPlan& r) {
  SD35_TRY(auto snap, store::find_snapshot(r.cache.root.parent_path(), r.repo_id, r.revision));
  if (!snap.commit)
    return make_error(
        Errc::not_found,
        fmt::format("HF_HUB_OFFLINE is set and the cache does not know revision '{}' of {}",
                    r.revision, r.repo_id),
        r.cache.root.string(),
        "run `sd35-setup fetch` once with network access, or unset HF_HUB_OFFLINE");
  OfflineRepo out{*snap.commit, snap.path};
  const auto found = cached_files(snap.path, r);
  for (const auto& p : r.patterns)
    if (is_literal(p) && std::find(found.begin(), found.end(), p) == found.end())
      return make_error(Errc::not_found,
                        fmt::format("HF_HUB_OFFLINE is set and '{}' is not in the cache", p),
                        (snap.path / p).string(), kOfflineHint);
  if (found.empty())
    return make_error(Errc::not_found, "HF_HUB_OFFLINE is set and no cached file matches",
                      snap.path.string(), kOfflineHint);
  std::error_code ec;
  for (const auto& rel : found) {
    auto target = sfs::canonical(snap.path / rel, ec);
    out.files.push_back({{"path", rel},
                         {"size", sfs::file_size(snap.path / rel, ec)},
                         {"oid", target.filename().string()},
                         {"source", "cache"},
                         {"state", "cached"}});
  }
  return out;
}

}  // namespace sd35::fetch
