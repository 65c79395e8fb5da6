// Step 2 of a fetch: the preflight, once every repository's files are selected and before any
// byte is downloaded. The bytes still missing (partial downloads already on disk count as
// present) against the free space of the cache filesystem, judged by store::require_space (the
// same words as the `disk.free` check of doctor and verify).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "fetch/plan.hpp"
#include "store/space.hpp"
#include "util/result.hpp"

namespace sd35::fetch {

struct SpaceTally {
  std::uint64_t total = 0;    // bytes of every selected file
  std::uint64_t present = 0;  // of those, in blobs/ already or as a partial download
  SpaceTally& operator+=(const SpaceTally& o) {
    total += o.total;
    present += o.present;
    return *this;
  }
};

// One repository's files: complete blobs count whole, `<blob>.incomplete` up to the file's size.
SpaceTally tally(const std::vector<Item>& items, const store::RepoCache& cache);

// Bytes of the selected files not yet in blobs/ (whole files: partial downloads not subtracted).
std::uint64_t still_needed(const std::vector<Item>& items);

// Refuses (Errc::disk_full, exit 4) when the cache filesystem lacks total - present bytes.
Status preflight(const std::filesystem::path& cache_dir, const SpaceTally& need,
                 const store::SpaceFn& space = {});

}  // namespace sd35::fetch
