#include "fetch/link.hpp"

#include <fmt/format.h>

#include "store/snapshot.hpp"

namespace sd35::fetch {

nlohmann::json file_doc(const Item& it, std::string_view state) {
  return {{"path", it.path},
          {"size", it.size},
          {"oid", it.blob_id},
          {"source", it.lfs ? "lfs" : "git"},
          {"state", state}};
}

Result<nlohmann::json> link_snapshot(RepoFetch& r, bool symlinks, Reporter& rep) {
  nlohmann::json files = nlohmann::json::array();
  std::uint64_t fallbacks = 0;
  std::optional<Error> first_error;
  for (auto& it : r.selection.items) {
    if (auto e = r.object_errors.find(it.blob_id); e != r.object_errors.end()) {
      if (!first_error) first_error = e->second;
      files.push_back(file_doc(it, "failed"));
      continue;
    }
    SD35_TRY(auto kind, store::link_snapshot_file(r.plan.cache, r.fetched.commit, it.path,
                                                  it.blob_id, symlinks));
    if (kind != store::LinkKind::symlink) ++fallbacks;
    files.push_back(file_doc(it, it.cached ? "cached" : "downloaded"));
  }
  if (fallbacks > 0)
    rep.event(Level::warn,
              fmt::format("{} file(s) placed in the snapshot as hardlinks or copies: symlinks are "
                          "not available at {} (or HF_HUB_DISABLE_SYMLINKS is set)",
                          fallbacks, r.plan.cache.root.string()));
  if (first_error) {
    if (r.object_errors.size() > 1)
      first_error->message +=
          fmt::format(" (and {} more object(s) failed)", r.object_errors.size() - 1);
    return *first_error;
  }
  SD35_TRY_STATUS(store::write_ref(r.plan.cache, r.plan.revision, r.fetched.commit));
  return files;
}

}  // namespace sd35::fetch
