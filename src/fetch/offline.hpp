// HF_HUB_OFFLINE: a repository of the plan from the cache only. The commit comes from
// refs/<revision> (or the revision is a commit) through store::find_snapshot, and every literal
// pattern must be in snapshots/<commit>/ with its blob present.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fetch/plan.hpp"

namespace sd35::fetch {

struct OfflineRepo {
  std::string commit;
  std::filesystem::path snapshot;
  nlohmann::json files = nlohmann::json::array();  // path, size, oid, source "cache", "cached"
};

Result<OfflineRepo> resolve_offline(const RepoPlan& repo);

}  // namespace sd35::fetch
