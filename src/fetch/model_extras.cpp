#include "fetch/model_extras.hpp"

#include <fmt/format.h>

#include <cctype>

#include "store/snapshot_lookup.hpp"

namespace sd35::fetch {
namespace {

namespace sfs = std::filesystem;

std::string folder_name(std::string_view manifest_name) {
  std::string out;
  for (char c : manifest_name)
    out += (std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '-' || c == '_')
               ? c
               : '_';
  return out.empty() || out.front() == '.' ? "model" + out : out;
}

Error not_fetched(std::string what, const std::string& where) {
  return make_error(Errc::not_found, std::move(what), where,
                    "run `sd35-setup fetch` (it fetches the model's extra files too)");
}

// <entry> -> <target>: a relative symlink, else a copy; replaced when it differs.
Status place_entry(const sfs::path& entry, const sfs::path& target, bool symlinks) {
  std::error_code ec;
  sfs::create_directories(entry.parent_path(), ec);
  // Lexically: the link names the snapshot entry, not the blob it points to.
  const sfs::path rel =
      sfs::absolute(target, ec)
          .lexically_normal()
          .lexically_relative(sfs::absolute(entry.parent_path(), ec).lexically_normal());
  if (symlinks && sfs::is_symlink(entry, ec) && sfs::read_symlink(entry, ec) == rel) return ok();
  const sfs::path tmp = entry.string() + ".tmp";
  sfs::remove(tmp, ec);
  ec.clear();
  if (symlinks && !rel.empty()) sfs::create_symlink(rel, tmp, ec);
  if (!symlinks || rel.empty() || ec)
    sfs::copy_file(target, tmp, sfs::copy_options::overwrite_existing, ec);
  if (!ec) sfs::rename(tmp, entry, ec);
  if (ec)
    return make_error(Errc::io, fmt::format("cannot place {}: {}", entry.string(), ec.message()),
                      entry.string(), "check that the cache folder is writable");
  return ok();
}

}  // namespace

Result<std::vector<ExtraLocation>> locate_extra_files(const Manifest& m, const store::HubEnv& env) {
  std::vector<ExtraLocation> out;
  for (const auto& x : m.model.extra_files) {
    SD35_TRY(auto snap, store::find_snapshot(env.cache_dir, x.repo, x.revision));
    if (!snap.exists)
      return not_fetched(
          fmt::format("{} ({} of {}): {}", x.as, x.path, snap.repo_id, snap.problem()),
          snap.cache.root.string());
    const sfs::path p = snap.path / x.path;
    std::error_code ec;
    if (!sfs::exists(p, ec))
      return not_fetched(fmt::format("{} ({} of {} at {}) is not in the cache", x.as, x.path,
                                     snap.repo_id, *snap.commit),
                         p.string());
    out.push_back({&x, *snap.commit, p});
  }
  return out;
}

Result<sfs::path> tokenizers_dir(const Manifest& m, const store::HubEnv& env) {
  if (m.model.extra_files.empty()) {
    SD35_TRY(auto snap, store::find_snapshot(env.cache_dir, m.model.repo, m.model.revision));
    if (!snap.exists) return not_fetched(snap.problem(), snap.cache.root.string());
    return snap.path;
  }
  SD35_TRY(auto located, locate_extra_files(m, env));
  const sfs::path dir = env.cache_dir / ".sd35-extras" / folder_name(m.name);
  for (const auto& l : located)
    SD35_TRY_STATUS(place_entry(dir / l.file->as, l.path, env.symlinks));
  return dir;
}

}  // namespace sd35::fetch
