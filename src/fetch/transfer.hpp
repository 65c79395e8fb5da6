// Step 3 of a fetch: the transfer of one repository's missing files into blobs/. Regular files
// straight from the bare repository's object database; LFS objects through the batch API (the
// commit's .lfsconfig lfs.url, else <repo>.git/info/lfs) and the transfer engine
// (lfs/transfer.hpp). Objects the server cannot give are recorded per oid, not fatal here: the
// snapshot step fails those files only.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

#include "fetch/repo_fetch.hpp"

namespace sd35::fetch {

struct TransferSettings {
  int jobs = 8;
  std::uint64_t range_threshold = 64ull << 20;
  std::uint64_t min_range = 16ull << 20;
  std::chrono::seconds stall_timeout{30};
};

// `still_needed`: bytes the whole fetch still has to write (for a disk-full message).
Status export_regular_files(RepoFetch& r, std::uint64_t still_needed);

Status download_lfs(RepoFetch& r, const TransferSettings& settings, const net::Transport& transport,
                    Reporter& rep);

}  // namespace sd35::fetch
