// Names and paths of the Hugging Face hub cache layout (huggingface_hub file_download.py):
//   <cache>/models--<org>--<name>/blobs/<sha256 (LFS) | git blob sha1 (regular)>
//   <cache>/models--<org>--<name>/snapshots/<commit>/<path>  -> relative symlink to
//   ../../blobs/<id> <cache>/models--<org>--<name>/refs/<revision>            holds the commit
// Pure path arithmetic plus reading refs; fetch (writer) and verify (reader) share it.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace sd35::store {

namespace stdfs = std::filesystem;

// "org/name" from "org/name" or any http(s) URL whose last two path parts are org/name (".git"
// stripped).
Result<std::string> repo_id_from(std::string_view repo_or_url);

// "models--org--name"
std::string repo_folder_name(std::string_view repo_id);

struct RepoCache {
  stdfs::path root;  // <cache>/models--org--name
  [[nodiscard]] stdfs::path blobs() const { return root / "blobs"; }
  [[nodiscard]] stdfs::path blob(std::string_view id) const {
    return root / "blobs" / std::string(id);
  }
  [[nodiscard]] stdfs::path snapshot(std::string_view commit) const {
    return root / "snapshots" / std::string(commit);
  }
  [[nodiscard]] stdfs::path ref(std::string_view revision) const {
    return root / "refs" / std::string(revision);
  }
  // The commit a revision points to: the revision itself when it is 40 hex, else refs/<revision>.
  [[nodiscard]] std::optional<std::string> commit_for(std::string_view revision) const;
};

RepoCache repo_cache(const stdfs::path& cache_dir, std::string_view repo_id);

bool is_commit_hash(std::string_view s) noexcept;  // 40 lowercase hex

}  // namespace sd35::store
