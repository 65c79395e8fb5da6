// Step 4 of a fetch: the snapshot. snapshots/<commit>/<path> -> ../../blobs/<id> for every file
// whose blob is complete and verified (so no partial file ever appears there), then
// refs/<revision>. A file whose object failed makes the step fail after the others are linked.
#pragma once

#include <nlohmann/json.hpp>

#include "fetch/repo_fetch.hpp"

namespace sd35::fetch {

// The result document's entry of a file: path, size, oid, source (lfs|git), state.
nlohmann::json file_doc(const Item& it, std::string_view state);

// Links the repository's files; returns their result entries. `symlinks`: the hub environment's
// policy (HF_HUB_DISABLE_SYMLINKS); hardlinks or copies are used when symlinks fail.
Result<nlohmann::json> link_snapshot(RepoFetch& r, bool symlinks, Reporter& rep);

}  // namespace sd35::fetch
