// Writing the Hugging Face cache layout: blobs, snapshot links and refs (hf_cache_layout.hpp has
// the path arithmetic). Every step is atomic (temp name + rename), so a crash never leaves a
// half-written file at a snapshot path.
#pragma once

#include <filesystem>
#include <string>

#include "store/hf_cache_layout.hpp"
#include "util/result.hpp"

namespace sd35::store {

enum class LinkKind { symlink, hardlink, copy };
std::string_view to_string(LinkKind k) noexcept;

// snapshots/<commit>/<path> -> ../../blobs/<blob_id> (relative symlink). When symlinks fail
// (filesystem without them, HF_HUB_DISABLE_SYMLINKS=1) falls back to a hardlink, then a copy.
Result<LinkKind> link_snapshot_file(const RepoCache& cache, const std::string& commit,
                                    const std::string& path, const std::string& blob_id,
                                    bool allow_symlinks = true);

// refs/<revision> := commit (skipped when the revision is itself a commit hash).
Status write_ref(const RepoCache& cache, const std::string& revision, const std::string& commit);

// A repo path must stay inside the snapshot: no absolute paths, no "..", no empty parts, no NUL.
bool is_safe_repo_path(std::string_view path) noexcept;

}  // namespace sd35::store
