// The model part of the lock: read from the Hugging Face cache snapshots (commit from refs/, oid
// from the blob each snapshot link points to) of the model's repository and of the repositories
// its extra files come from, and checked back against a lock through the verify library
// (src/verify/content.hpp) with its (size, mtime, ctime, dev, inode) fast path, so an unchanged
// multi-GB model is verified in milliseconds.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "lock/lockfile.hpp"
#include "manifest/manifest.hpp"
#include "store/hub_env.hpp"
#include "util/result.hpp"

namespace sd35::lock {

// What the cache of `env` holds for the manifest's model. Not fetched: the manifest's values,
// verified=false. Repository URLs are the ones the files came from (env.endpoint, HF_ENDPOINT).
LockedModel model_from_cache(const Manifest& manifest, const store::HubEnv& env);

// "<endpoint>/org/name" from "org/name"; URLs lose userinfo and query.
std::string repo_url(std::string_view repo, std::string_view endpoint = store::kDefaultEndpoint);

struct FileCheck {
  std::string path;  // repo-relative (an extra file: its `as` path)
  bool ok = false;
  bool fast = false;  // decided by the stat fast path, no hashing
  std::string detail;
};

// Checks every locked file (extra files included) in the snapshot of its commit: present, size,
// content hash (sha256 for 64-hex oids, git blob sha1 for 40-hex oids).
Result<std::vector<FileCheck>> check_model_files(const LockedModel& model,
                                                 const std::filesystem::path& cache_dir);

}  // namespace sd35::lock
