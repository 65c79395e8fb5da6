#include "fetch/plan.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <iterator>

#include "lfs/batch.hpp"
#include "lfs/pointer.hpp"
#include "net/credentials.hpp"
#include "store/path_glob.hpp"
#include "store/snapshot.hpp"
#include "util/sha256.hpp"

namespace sd35::fetch {
namespace {

namespace sfs = std::filesystem;

Result<RepoPlan> repo_plan(std::string_view repo_or_url, std::string revision,
                           const store::HubEnv& env, const sfs::path& cache_dir) {
  RepoPlan p;
  auto split = net::split_userinfo(repo_or_url);
  std::string repo = std::move(split.url);  // from here on: no credentials in any text
  p.url_username = std::move(split.username);
  p.url_password = std::move(split.password);
  p.revision = revision.empty() ? "main" : std::move(revision);
  SD35_TRY(p.repo_id, store::repo_id_from(repo));
  p.repo_url = env.repo_url(repo);
  p.repo_page =
      p.repo_url.ends_with(".git") ? p.repo_url.substr(0, p.repo_url.size() - 4) : p.repo_url;
  p.cache = store::repo_cache(cache_dir, p.repo_id);
  return p;
}

// The manifest's own model with its own file list (no --include, --repo naming it or absent).
bool manifest_model_asked(const Manifest& m, const Request& r, const RepoPlan& model) {
  if (!r.include.empty()) return false;
  if (r.repo.empty()) return true;
  auto manifest_id = store::repo_id_from(m.model.repo);
  return manifest_id && *manifest_id == model.repo_id;
}

Status add_extra_repos(Plan& plan, const Manifest& m, const store::HubEnv& env) {
  for (const auto& x : m.model.extra_files) {
    SD35_TRY(RepoPlan p, repo_plan(x.repo, x.revision, env, plan.cache_dir));
    auto same = [&](const RepoPlan& o) {
      return o.extra && o.repo_id == p.repo_id && o.revision == p.revision;
    };
    auto it = std::find_if(plan.repos.begin(), plan.repos.end(), same);
    if (it == plan.repos.end()) {
      p.extra = true;
      plan.repos.push_back(std::move(p));
      it = std::prev(plan.repos.end());
    }
    if (std::find(it->patterns.begin(), it->patterns.end(), x.path) == it->patterns.end())
      it->patterns.push_back(x.path);
    if (x.sha256) it->pins[x.path] = *x.sha256;
  }
  return ok();
}

Error missing_file(const std::string& path, const RepoPlan& r, const std::string& commit) {
  return make_error(Errc::not_found,
                    fmt::format("'{}' is not in {} at {}", path, r.repo_id, commit), r.repo_page,
                    "check the file list in the manifest, --include and --revision");
}

Error pin_mismatch(const RepoPlan& r, const Item& it, const std::string& commit,
                   const std::string& got, const std::string& pinned) {
  return make_error(Errc::integrity,
                    fmt::format("{} at {} has {} {}, but the manifest pins {}", it.path, commit,
                                it.lfs ? "oid" : "sha256", got, pinned),
                    r.repo_page,
                    "the repository changed under the pinned revision, or the manifest is wrong");
}

// One selected tree entry: a regular file, or an LFS pointer; checked against the manifest's pin.
Result<Item> item_of(const RepoPlan& r, const std::string& commit, const git::TreeEntry& e,
                     const BlobReader& read_blob) {
  if (!store::is_safe_repo_path(e.path))  // before anything is downloaded
    return make_error(Errc::bad_input,
                      fmt::format("refusing repository path '{}' of {} at {}: it leaves the "
                                  "snapshot; nothing was downloaded",
                                  e.path, r.repo_id, commit),
                      r.repo_page, "the repository is malformed or hostile; do not use it");
  Item it{e.path, e.size, e.blob_id, e.blob_id};
  std::optional<std::string> text;
  if (e.size < lfs::kMaxPointerSize) {
    SD35_TRY(text, read_blob(e.blob_id));
    if (lfs::looks_like_pointer(*text))
      if (auto p = lfs::parse_pointer(*text)) {
        it.lfs = true;
        it.blob_id = p->oid;
        it.size = p->size;
      }
  }
  if (auto pin = r.pins.find(it.path); pin != r.pins.end()) {
    if (it.lfs && pin->second != it.blob_id)
      return pin_mismatch(r, it, commit, it.blob_id, pin->second);
    if (!it.lfs) {  // a regular file's pin is the sha256 of its bytes
      if (!text) {
        SD35_TRY(text, read_blob(e.blob_id));
      }
      if (auto got = sha256_hex(*text); got != pin->second)
        return pin_mismatch(r, it, commit, got, pin->second);
    }
  }
  std::error_code ec;
  it.cached = sfs::exists(r.cache.blob(it.blob_id), ec) &&
              (!it.lfs || sfs::file_size(r.cache.blob(it.blob_id), ec) == it.size);
  return it;
}

}  // namespace

bool selected(const std::vector<std::string>& patterns, const std::string& path) {
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return store::glob_match(p, path); });
}

bool is_literal(const std::string& p) {
  return p.find_first_of("*?[\\") == std::string::npos;
}

Result<Plan> make_plan(const Manifest& m, const Request& r, const store::HubEnv& env) {
  Plan plan;
  plan.cache_dir = env.cache_dir;
  SD35_TRY(RepoPlan model,
           repo_plan(r.repo.empty() ? m.model.repo : r.repo,
                     r.revision.empty() ? m.model.revision : r.revision, env, plan.cache_dir));
  const bool own_model = manifest_model_asked(m, r, model);
  if (!r.include.empty()) {
    model.patterns = r.include;
  } else if (!own_model) {
    model.patterns = {"**"};  // another repository: every file
  } else {
    for (const auto& f : m.model.files) model.patterns.push_back(f.path);
  }
  for (const auto& f : m.model.files)  // the pins hold whatever selects the files
    if (f.sha256) model.pins[f.path] = *f.sha256;
  plan.repos.push_back(std::move(model));
  if (own_model) SD35_TRY_STATUS(add_extra_repos(plan, m, env));
  return plan;
}

Result<Selection> select_files(const RepoPlan& r, const std::string& commit,
                               const std::vector<git::TreeEntry>& entries,
                               const BlobReader& read_blob) {
  Selection s;
  for (const auto& e : entries) {
    if (e.path == ".lfsconfig" && e.size < 65536)
      if (auto text = read_blob(e.blob_id)) s.lfs_url = lfs::lfs_url_from_config(*text);
    if (!selected(r.patterns, e.path)) continue;
    SD35_TRY(Item it, item_of(r, commit, e, read_blob));
    s.items.push_back(std::move(it));
  }
  for (const auto& p : r.patterns)
    if (is_literal(p) &&
        std::none_of(s.items.begin(), s.items.end(), [&](const Item& i) { return i.path == p; }))
      return missing_file(p, r, commit);
  if (s.items.empty())
    return make_error(
        Errc::not_found, fmt::format("no file of {} at {} matches the patterns", r.repo_id, commit),
        r.repo_page, "check --include (globs match whole paths; use **/ for any directory)");
  return s;
}

}  // namespace sd35::fetch
