#include "store/snapshot.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include "util/fs.hpp"
#include "util/strings.hpp"

namespace sd35::store {

std::string_view to_string(LinkKind k) noexcept {
  switch (k) {
    case LinkKind::symlink:
      return "symlink";
    case LinkKind::hardlink:
      return "hardlink";
    case LinkKind::copy:
      return "copy";
  }
  return "?";
}

bool is_safe_repo_path(std::string_view path) noexcept {
  // A NUL would cut the name short at the system call ("a/..\0x" is "a/.." there).
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string_view::npos)
    return false;
  for (auto part : str::split(path, '/'))
    if (part.empty() || part == "." || part == "..") return false;
  return true;
}

Result<LinkKind> link_snapshot_file(const RepoCache& cache, const std::string& commit,
                                    const std::string& path, const std::string& blob_id,
                                    bool allow_symlinks) {
  namespace sfs = std::filesystem;
  if (!is_safe_repo_path(path))
    return make_error(Errc::bad_input,
                      fmt::format("refusing repository path '{}': it leaves the snapshot", path),
                      cache.root.string(), "the repository is malformed or hostile; do not use it");
  const sfs::path dest = cache.snapshot(commit) / path;
  const sfs::path blob = cache.blob(blob_id);
  std::error_code ec;
  sfs::create_directories(dest.parent_path(), ec);
  if (ec)
    return fs::errno_error(ec.value(), "cannot create the snapshot directory", dest.parent_path());
  const sfs::path tmp = dest.string() + fmt::format(".tmp.{}", ::getpid());
  sfs::remove(tmp, ec);
  // Relative target: the cache stays valid when moved or mounted elsewhere.
  sfs::path target = sfs::relative(blob, dest.parent_path(), ec);
  LinkKind kind = LinkKind::symlink;
  if (!allow_symlinks || ec || (sfs::create_symlink(target, tmp, ec), ec)) {
    kind = LinkKind::hardlink;
    sfs::create_hard_link(blob, tmp, ec);
    if (ec) {
      kind = LinkKind::copy;
      ec.clear();
      sfs::copy_file(blob, tmp, sfs::copy_options::overwrite_existing, ec);
      if (ec) return fs::errno_error(ec.value(), "cannot place the file in the snapshot", dest);
    }
  }
  sfs::rename(tmp, dest, ec);
  if (ec) {
    sfs::remove(tmp, ec);
    return fs::errno_error(ec.value(), "cannot place the file in the snapshot", dest);
  }
  return kind;
}

Status write_ref(const RepoCache& cache, const std::string& revision, const std::string& commit) {
  if (is_commit_hash(revision)) return ok();
  if (!is_safe_repo_path(revision))
    return make_error(Errc::usage,
                      fmt::format("revision '{}' is not usable as a ref name", revision),
                      "--revision");
  std::error_code ec;
  std::filesystem::create_directories(cache.ref(revision).parent_path(), ec);
  return fs::write_file_atomic(cache.ref(revision), commit);
}

}  // namespace sd35::store
