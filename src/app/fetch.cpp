#include "app/fetch.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <optional>
#include <thread>

#include "checks/check.hpp"
#include "git/git_repo.hpp"
#include "lfs/batch.hpp"
#include "lfs/pointer.hpp"
#include "lfs/transfer.hpp"
#include "net/credentials.hpp"
#include "net/status_policy.hpp"
#include "net/transport.hpp"
#include "store/disk_full.hpp"
#include "store/file_lock.hpp"
#include "store/hf_cache_layout.hpp"
#include "store/path_glob.hpp"
#include "store/snapshot.hpp"
#include "util/strings.hpp"

namespace sd35::app {
namespace {

namespace sfs = std::filesystem;

struct Item {
  std::string path;
  std::uint64_t size = 0;
  std::string blob_id;   // sha256 (LFS) or git blob sha1
  std::string git_blob;  // the tree's blob (the pointer, for LFS)
  bool lfs = false;
  bool cached = false;
};

std::string env_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool env_flag(const char* name) {
  std::string v = str::to_lower(env_str(name));
  return v == "1" || v == "true" || v == "yes" || v == "on";
}

struct Target {
  std::string repo_id, repo_url, repo_page, revision;  // repo_url never holds userinfo
  std::string url_username;                            // userinfo of --repo: a credential source
  Secret url_password;
  store::RepoCache cache;
  sfs::path cache_dir;
};

Result<Target> resolve_target(const GlobalOptions& global, const FetchOptions& opt,
                              const Manifest& m) {
  Target t;
  auto split = net::split_userinfo(opt.repo.empty() ? m.model.repo : opt.repo);
  std::string repo = std::move(split.url);  // from here on: no credentials in any text
  t.url_username = std::move(split.username);
  t.url_password = std::move(split.password);
  t.revision = opt.revision.empty() ? m.model.revision : opt.revision;
  if (t.revision.empty()) t.revision = "main";
  SD35_TRY(t.repo_id, store::repo_id_from(repo));
  if (repo.starts_with("http://") || repo.starts_with("https://")) {
    t.repo_url = repo;
    while (t.repo_url.ends_with("/")) t.repo_url.pop_back();
  } else {
    std::string endpoint = env_str("HF_ENDPOINT");
    if (endpoint.empty()) endpoint = "https://huggingface.co";
    while (endpoint.ends_with("/")) endpoint.pop_back();
    t.repo_url = endpoint + "/" + t.repo_id;
  }
  t.repo_page =
      t.repo_url.ends_with(".git") ? t.repo_url.substr(0, t.repo_url.size() - 4) : t.repo_url;
  t.cache_dir = resolve_cache_dir(global);
  t.cache = store::repo_cache(t.cache_dir, t.repo_id);
  return t;
}

// The manifest's files, unless --include or another repo was asked for (then: every file).
std::vector<std::string> patterns_for(const FetchOptions& opt, const Manifest& m, const Target& t) {
  if (!opt.include.empty()) return opt.include;
  auto manifest_id = store::repo_id_from(m.model.repo);
  if (!opt.repo.empty() && (!manifest_id || *manifest_id != t.repo_id)) return {"**"};
  std::vector<std::string> out;
  for (const auto& f : m.model.files) out.push_back(f.path);
  return out;
}

bool selected(const std::vector<std::string>& patterns, const std::string& path) {
  for (const auto& p : patterns)
    if (store::glob_match(p, path)) return true;
  return false;
}

bool is_literal(const std::string& p) {
  return p.find_first_of("*?[\\") == std::string::npos;
}

Error missing_file(const std::string& path, const Target& t, const std::string& commit) {
  return make_error(Errc::not_found,
                    fmt::format("'{}' is not in {} at {}", path, t.repo_id, commit), t.repo_page,
                    "check the file list in the manifest, --include and --revision");
}

nlohmann::json file_doc(const Item& it, std::string_view state) {
  return {{"path", it.path},
          {"size", it.size},
          {"oid", it.blob_id},
          {"source", it.lfs ? "lfs" : "git"},
          {"state", state}};
}

Result<Outcome> fetch_offline(const FetchOptions& opt, const Manifest& m, const Target& t,
                              Reporter& rep) {
  auto where = t.cache.root.string();
  auto commit = t.cache.commit_for(t.revision);
  if (!commit)
    return make_error(
        Errc::not_found,
        fmt::format("HF_HUB_OFFLINE is set and the cache does not know revision '{}' of {}",
                    t.revision, t.repo_id),
        where, "run `sd35-setup fetch` once with network access, or unset HF_HUB_OFFLINE");
  sfs::path snap = t.cache.snapshot(*commit);
  auto patterns = patterns_for(opt, m, t);
  nlohmann::json files = nlohmann::json::array();
  std::error_code ec;
  std::vector<std::string> found;
  if (sfs::is_directory(snap, ec))
    for (auto it = sfs::recursive_directory_iterator(snap, ec);
         it != sfs::recursive_directory_iterator(); it.increment(ec)) {
      if (ec) break;
      if (it->is_directory()) continue;
      std::string rel = sfs::relative(it->path(), snap, ec).generic_string();
      if (selected(patterns, rel) && sfs::exists(it->path()))
        found.push_back(rel);  // exists(): link target present
    }
  for (const auto& p : patterns)
    if (is_literal(p) && std::find(found.begin(), found.end(), p) == found.end())
      return make_error(
          Errc::not_found, fmt::format("HF_HUB_OFFLINE is set and '{}' is not in the cache", p),
          (snap / p).string(),
          "run `sd35-setup fetch` with network access first, or unset HF_HUB_OFFLINE");
  if (found.empty())
    return make_error(Errc::not_found, "HF_HUB_OFFLINE is set and no cached file matches",
                      snap.string(),
                      "run `sd35-setup fetch` with network access first, or unset HF_HUB_OFFLINE");
  for (const auto& rel : found) {
    auto target = sfs::canonical(snap / rel, ec);
    files.push_back({{"path", rel},
                     {"size", sfs::file_size(snap / rel, ec)},
                     {"oid", target.filename().string()},
                     {"source", "cache"},
                     {"state", "cached"}});
  }
  rep.result("fetch",
             {{"ok", true},
              {"offline", true},
              {"repo", t.repo_id},
              {"revision", t.revision},
              {"commit", *commit},
              {"files", files},
              {"bytes_downloaded", 0},
              {"seconds", 0},
              {"snapshot", snap.string()},
              {"summary",
               {fmt::format("offline: {} file(s) of {} at {} are in the cache: {}", found.size(),
                            t.repo_id, commit->substr(0, 12), snap.string())}}});
  return Outcome::ok;
}

// Refuses to start when the cache filesystem lacks the bytes still needed; the message comes from
// the disk.free check (the same words as `doctor`).
Status preflight(const FetchOptions& opt, const Manifest& m, const Target& t,
                 const std::vector<Item>& items) {
  std::uint64_t total = 0, present = 0;
  for (const auto& it : items) {
    total += it.size;
    std::error_code ec;
    if (it.cached)
      present += it.size;
    else if (auto n = sfs::file_size(t.cache.blob(it.blob_id).string() + ".incomplete", ec); !ec)
      present += std::min<std::uint64_t>(n, it.size);
  }
  sfs::path probe = fs::nearest_existing(t.cache_dir);
  auto space = opt.space ? opt.space(probe) : fs::space(probe);
  if (!space) return std::move(space).error();
  Manifest need = m;
  need.requirements.disk_free_bytes = total;
  HostFacts host;
  host.disk.push_back(DiskFacts{
      t.cache_dir.string(), "cache", space->free_bytes, space->total_bytes, "", {}, true});
  checks::CheckContext ctx{need, host, present};
  const auto* check = checks::find_check("disk.free");
  if (!check) return ok();
  Finding f = check->run(check->info, ctx);
  if (f.verdict != Verdict::fail) return ok();
  return make_error(Errc::disk_full, f.detail, t.cache_dir.string(), f.fix);
}

// Bytes of the selected files not yet in blobs/ (whole files: partial downloads not subtracted).
std::uint64_t still_needed(const std::vector<Item>& items) {
  std::uint64_t n = 0;
  for (const auto& it : items)
    if (!it.cached) n += it.size;
  return n;
}

Error enrich_git_error(Error e, const net::Credentials& cred, const Target& t) {
  if (e.code == Errc::auth)
    e.message += cred.token.empty()
                     ? fmt::format("; {}", net::describe_token_source(cred))
                     : fmt::format("; {} was rejected", net::describe_token_source(cred));
  if (e.code == Errc::gated)
    e.hint = fmt::format("accept the license at {} with the account of {}", t.repo_page,
                         net::describe_token_source(cred));
  if (e.code == Errc::not_found && e.message.find("revision") == std::string::npos)
    e.hint = fmt::format(
        "check that {} exists (HF_ENDPOINT, spelling) and that the token can see it", t.repo_page);
  return e;
}

// Everything one online fetch shares between its steps.
struct Session {
  Session(const FetchOptions& o, const Manifest& mm, const Target& tt, Reporter& r)
      : opt(o), m(mm), t(tt), rep(r) {}
  const FetchOptions& opt;
  const Manifest& m;
  const Target& t;
  Reporter& rep;
  net::Credentials cred;
  net::Transport transport;
  sfs::path lock_dir;
  std::optional<git::BareRepo> bare;
  git::FetchedRevision fetched;
  std::vector<Item> items;
  std::string lfs_url;  // .lfsconfig lfs.url of the commit, empty when none
  lfs::TransferReport report;
  std::map<std::string, Error> object_errors;  // by oid
};

// Credentials (only for the repository's origin), proxy and CA certificates.
Status connection_settings(Session& s) {
  net::TokenLookup lookup;
  lookup.origin = net::origin_of(s.t.repo_url);
  lookup.host = net::authority_of(s.t.repo_url);
  lookup.protocol = s.t.repo_url.substr(0, s.t.repo_url.find(':'));
  lookup.url_username = s.t.url_username;
  lookup.url_password = s.t.url_password;
  lookup.bearer = s.opt.bearer;
  s.cred = net::find_credentials(lookup);
  SD35_TRY(s.transport, net::transport_from_env(s.opt.ca_file));
  if (auto proxy = s.transport.proxy_for(s.t.repo_url); !proxy.empty())
    s.rep.event(Level::debug,
                fmt::format("connecting through the proxy {}", net::redact_url(proxy)));
  if (!s.cred.token.empty())
    s.rep.event(Level::debug, fmt::format("using {} for {} only",
                                          net::describe_token_source(s.cred), s.cred.origin));
  return ok();
}

// 1. The tree, from a bare repository outside the snapshot.
Status fetch_tree(Session& s) {
  const Target& t = s.t;
  sfs::path bare_path = t.cache_dir / ".sd35-git" / (store::repo_folder_name(t.repo_id) + ".git");
  // One process at a time updates the bare repository (libgit2 ref and pack locks would fail).
  SD35_TRY(auto git_lock, store::FileLock::acquire(s.lock_dir / "git.lock"));
  SD35_TRY(git::BareRepo bare, git::BareRepo::open_or_init(bare_path));
  s.rep.event(Level::info, fmt::format("resolving {} at {}", t.repo_id, t.revision));
  auto fetched = bare.fetch(t.repo_url, t.revision, &s.cred, &s.transport);
  // libgit2 does not retry: a transient server or network failure gets two more tries.
  for (int attempt = 1; attempt < 3 && !fetched && fetched.error().code == Errc::network &&
                        !fetched.error().permanent;
       ++attempt) {
    s.rep.event(Level::warn,
                fmt::format("git fetch failed ({}); retrying", fetched.error().message));
    std::this_thread::sleep_for(net::backoff_delay(attempt) * 4);
    fetched = bare.fetch(t.repo_url, t.revision, &s.cred, &s.transport);
  }
  if (!fetched) return enrich_git_error(std::move(fetched).error(), s.cred, t);
  s.fetched = std::move(*fetched);
  s.bare.emplace(std::move(bare));
  return ok();  // the lock goes: reading objects needs none
}

// One selected tree entry: a regular file, or an LFS pointer (checked against the manifest's pin).
Result<Item> item_of(const Session& s, const git::TreeEntry& e) {
  const std::string& commit = s.fetched.commit;
  if (!store::is_safe_repo_path(e.path))  // before anything is downloaded
    return make_error(Errc::bad_input,
                      fmt::format("refusing repository path '{}' of {} at {}: it leaves the "
                                  "snapshot; nothing was downloaded",
                                  e.path, s.t.repo_id, commit),
                      s.t.repo_page, "the repository is malformed or hostile; do not use it");
  Item it{e.path, e.size, e.blob_id, e.blob_id};
  if (e.size < lfs::kMaxPointerSize) {
    SD35_TRY(std::string text, s.bare->read_blob(e.blob_id));
    if (lfs::looks_like_pointer(text))
      if (auto p = lfs::parse_pointer(text)) {
        it.lfs = true;
        it.blob_id = p->oid;
        it.size = p->size;
      }
  }
  for (const auto& mf : s.m.model.files)
    if (mf.path == it.path && mf.sha256 && it.lfs && *mf.sha256 != it.blob_id)
      return make_error(
          Errc::integrity,
          fmt::format("{} at {} has oid {}, but the manifest pins {}", it.path, commit, it.blob_id,
                      *mf.sha256),
          s.t.repo_page,
          "the repository changed under the pinned revision, or the manifest is wrong");
  std::error_code ec;
  it.cached = sfs::exists(s.t.cache.blob(it.blob_id), ec) &&
              (!it.lfs || sfs::file_size(s.t.cache.blob(it.blob_id), ec) == it.size);
  return it;
}

// 2. What to materialise: regular blobs, and pointers that become LFS downloads.
Status plan_items(Session& s) {
  const std::string& commit = s.fetched.commit;
  SD35_TRY(auto entries, s.bare->list_tree(commit));
  auto patterns = patterns_for(s.opt, s.m, s.t);
  for (const auto& e : entries) {
    if (e.path == ".lfsconfig" && e.size < 65536)
      if (auto text = s.bare->read_blob(e.blob_id)) s.lfs_url = lfs::lfs_url_from_config(*text);
    if (!selected(patterns, e.path)) continue;
    SD35_TRY(Item it, item_of(s, e));
    s.items.push_back(std::move(it));
  }
  for (const auto& p : patterns)
    if (is_literal(p) &&
        std::none_of(s.items.begin(), s.items.end(), [&](const Item& i) { return i.path == p; }))
      return missing_file(p, s.t, commit);
  if (s.items.empty())
    return make_error(Errc::not_found,
                      fmt::format("no file of {} at {} matches the patterns", s.t.repo_id, commit),
                      s.t.repo_page,
                      "check --include (globs match whole paths; use **/ for any directory)");
  return ok();
}

// 4. Regular files straight from the object database.
Status export_regular_files(Session& s) {
  std::error_code ec;
  sfs::create_directories(s.t.cache.blobs(), ec);
  if (ec)
    return fs::errno_error(ec.value(), "cannot create the cache directory", s.t.cache.blobs());
  for (auto& it : s.items) {
    if (it.lfs || it.cached) continue;
    auto st = s.bare->export_blob(it.git_blob, s.t.cache.blob(it.blob_id));
    if (!st && st.error().code == Errc::disk_full) {
      store::DiskFullContext ctx;
      ctx.file = it.path;
      ctx.id = it.blob_id;
      ctx.dir = s.t.cache.blobs();
      ctx.size = it.size;
      ctx.still_needed = still_needed(s.items);
      return store::disk_full_error(st.error(), ctx);
    }
    SD35_TRY_STATUS(std::move(st));
  }
  return ok();
}

// Transfer jobs for the batch answer; objects the server cannot give are recorded as errors.
std::vector<lfs::TransferJob> jobs_for(Session& s, std::vector<lfs::ObjectResult> actions,
                                       const std::string& endpoint) {
  std::vector<lfs::TransferJob> jobs;
  for (auto& a : actions) {
    auto label_of = [&] {
      for (const auto& it : s.items)
        if (it.blob_id == a.object.oid) return it.path;
      return a.object.oid;
    };
    if (!a.download) {
      s.object_errors[a.object.oid] = make_error(
          a.error_code == 404 || a.error_code == 410 ? Errc::not_found : Errc::network,
          fmt::format("the LFS server has no usable copy of {} (oid {}): {} {}", label_of(),
                      a.object.oid, a.error_code, a.error_message),
          endpoint, "the object is missing on the server; report it to the repository owner");
      continue;
    }
    jobs.push_back({a.object.oid, a.object.size, std::move(*a.download),
                    s.t.cache.blob(a.object.oid), label_of()});
  }
  return jobs;
}

// 5. LFS objects: batch API for actions, then the transfer engine.
Status download_lfs(Session& s) {
  std::vector<lfs::Pointer> wanted;
  for (const auto& it : s.items)
    if (it.lfs && !it.cached && std::none_of(wanted.begin(), wanted.end(), [&](const auto& p) {
          return p.oid == it.blob_id;
        }))
      wanted.push_back({it.blob_id, it.size});
  if (wanted.empty()) return ok();
  lfs::BatchClient batch{lfs::lfs_endpoint(s.t.repo_url, s.lfs_url), &s.cred, &s.transport,
                         s.fetched.ref_name, s.t.repo_page};
  SD35_TRY(auto actions, batch.request_actions(wanted));
  auto jobs = jobs_for(s, std::move(actions), batch.endpoint);
  lfs::TransferOptions topt;
  topt.jobs = std::max(1, s.opt.jobs);
  topt.range_threshold = s.opt.range_threshold;
  topt.min_range = s.opt.min_range;
  topt.stall_timeout = std::chrono::seconds(std::max(1, s.opt.stall_timeout_s));
  topt.lock_dir = s.lock_dir;
  topt.credentials = &s.cred;
  topt.transport = &s.transport;
  topt.refresh = [&batch](const std::string& oid, std::uint64_t size) -> Result<lfs::Action> {
    SD35_TRY(auto again, batch.request_actions({{oid, size}}));
    if (again.empty() || !again[0].download)
      return make_error(Errc::not_found, fmt::format("the LFS server no longer offers oid {}", oid),
                        batch.endpoint);
    return *again[0].download;
  };
  SD35_TRY(s.report, lfs::run_transfers(std::move(jobs), topt, s.rep));
  for (auto& o : s.report.objects) {
    if (!o.ok) s.object_errors[o.oid] = o.error;
    for (auto& it : s.items)  // another process finished it while this one waited for its lock
      if (o.cached && it.blob_id == o.oid) it.cached = true;
  }
  return ok();
}

// 6. The snapshot: only complete blobs are linked, so no partial file ever appears there.
Result<nlohmann::json> link_snapshot(Session& s) {
  nlohmann::json files = nlohmann::json::array();
  std::uint64_t fallbacks = 0;
  std::optional<Error> first_error;
  for (auto& it : s.items) {
    if (auto e = s.object_errors.find(it.blob_id); e != s.object_errors.end()) {
      if (!first_error) first_error = e->second;
      files.push_back(file_doc(it, "failed"));
      continue;
    }
    auto kind = store::link_snapshot_file(s.t.cache, s.fetched.commit, it.path, it.blob_id,
                                          !env_flag("HF_HUB_DISABLE_SYMLINKS"));
    if (!kind) return std::move(kind).error();
    if (*kind != store::LinkKind::symlink) ++fallbacks;
    files.push_back(file_doc(it, it.cached ? "cached" : "downloaded"));
  }
  if (fallbacks > 0)
    s.rep.event(
        Level::warn,
        fmt::format(
            "{} file(s) placed in the snapshot as hardlinks or copies: symlinks are not available "
            "at {} (or HF_HUB_DISABLE_SYMLINKS is set)",
            fallbacks, s.t.cache.root.string()));
  if (first_error) {
    if (s.object_errors.size() > 1)
      first_error->message +=
          fmt::format(" (and {} more object(s) failed)", s.object_errors.size() - 1);
    return *first_error;
  }
  SD35_TRY_STATUS(store::write_ref(s.t.cache, s.t.revision, s.fetched.commit));
  return files;
}

void report_result(const Session& s, nlohmann::json files, double seconds) {
  const std::string& commit = s.fetched.commit;
  std::uint64_t total = 0, cached = 0;
  for (const auto& it : s.items) {
    total += it.size;
    if (it.cached) cached += it.size;
  }
  const auto snapshot = s.t.cache.snapshot(commit).string();
  s.rep.result("fetch",
               {{"ok", true},
                {"repo", s.t.repo_id},
                {"revision", s.t.revision},
                {"commit", commit},
                {"files", std::move(files)},
                {"bytes_downloaded", s.report.bytes_downloaded},
                {"bytes_reread", s.report.bytes_reread},
                {"seconds", seconds},
                {"snapshot", snapshot},
                {"summary",
                 {fmt::format("{} file(s), {} of {} at {} in {}", s.items.size(),
                              str::human_bytes(total), s.t.repo_id, commit.substr(0, 12), snapshot),
                  fmt::format("downloaded {} in {:.1f} s ({} already cached)",
                              str::human_bytes(s.report.bytes_downloaded), seconds,
                              str::human_bytes(cached))}}});
}

}  // namespace

Result<Outcome> fetch(const GlobalOptions& global, const FetchOptions& opt, Reporter& rep) {
  const auto started = std::chrono::steady_clock::now();
  SD35_TRY(Manifest m, load_manifest_for(global));
  SD35_TRY(Target t, resolve_target(global, opt, m));
  if (env_flag("HF_HUB_OFFLINE")) return fetch_offline(opt, m, t, rep);
  Session s(opt, m, t, rep);
  s.lock_dir = t.cache_dir / ".locks" / store::repo_folder_name(t.repo_id);
  SD35_TRY_STATUS(connection_settings(s));
  SD35_TRY_STATUS(fetch_tree(s));
  SD35_TRY_STATUS(plan_items(s));
  SD35_TRY_STATUS(preflight(opt, m, t, s.items));  // 3. room for what is still missing
  SD35_TRY_STATUS(export_regular_files(s));
  SD35_TRY_STATUS(download_lfs(s));
  SD35_TRY(auto files, link_snapshot(s));
  report_result(s, std::move(files),
                std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  return Outcome::ok;
}

}  // namespace sd35::app
