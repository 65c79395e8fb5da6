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

}  // namespace

Result<Outcome> fetch(const GlobalOptions& global, const FetchOptions& opt, Reporter& rep) {
  const auto started = std::chrono::steady_clock::now();
  SD35_TRY(Manifest m, load_manifest_for(global));
  SD35_TRY(Target t, resolve_target(global, opt, m));
  if (env_flag("HF_HUB_OFFLINE")) return fetch_offline(opt, m, t, rep);

  net::TokenLookup lookup;
  lookup.origin = net::origin_of(t.repo_url);
  lookup.host = net::authority_of(t.repo_url);
  lookup.protocol = t.repo_url.substr(0, t.repo_url.find(':'));
  lookup.url_username = t.url_username;
  lookup.url_password = t.url_password;
  lookup.bearer = opt.bearer;
  net::Credentials cred = net::find_credentials(lookup);
  SD35_TRY(const net::Transport transport, net::transport_from_env(opt.ca_file));
  if (auto proxy = transport.proxy_for(t.repo_url); !proxy.empty())
    rep.event(Level::debug, fmt::format("connecting through the proxy {}", net::redact_url(proxy)));
  if (!cred.token.empty())
    rep.event(Level::debug,
              fmt::format("using {} for {} only", net::describe_token_source(cred), cred.origin));

  // 1. The tree, from a bare repository outside the snapshot.
  sfs::path bare_path = t.cache_dir / ".sd35-git" / (store::repo_folder_name(t.repo_id) + ".git");
  const sfs::path lock_dir = t.cache_dir / ".locks" / store::repo_folder_name(t.repo_id);
  // One process at a time updates the bare repository (libgit2 ref and pack locks would fail).
  SD35_TRY(auto git_lock, store::FileLock::acquire(lock_dir / "git.lock"));
  SD35_TRY(git::BareRepo bare, git::BareRepo::open_or_init(bare_path));
  rep.event(Level::info, fmt::format("resolving {} at {}", t.repo_id, t.revision));
  auto fetched = bare.fetch(t.repo_url, t.revision, &cred, &transport);
  // libgit2 does not retry: a transient server or network failure gets two more tries.
  for (int attempt = 1; attempt < 3 && !fetched && fetched.error().code == Errc::network &&
                        !fetched.error().permanent;
       ++attempt) {
    rep.event(Level::warn, fmt::format("git fetch failed ({}); retrying", fetched.error().message));
    std::this_thread::sleep_for(net::backoff_delay(attempt) * 4);
    fetched = bare.fetch(t.repo_url, t.revision, &cred, &transport);
  }
  if (!fetched) return enrich_git_error(std::move(fetched).error(), cred, t);
  { auto unlock = std::move(git_lock); }  // reading objects needs no lock
  const std::string commit = fetched->commit;
  SD35_TRY(auto entries, bare.list_tree(commit));

  // 2. What to materialise: regular blobs, and pointers that become LFS downloads.
  auto patterns = patterns_for(opt, m, t);
  std::vector<Item> items;
  std::string lfs_url;
  for (const auto& e : entries) {
    if (e.path == ".lfsconfig" && e.size < 65536)
      if (auto text = bare.read_blob(e.blob_id)) lfs_url = lfs::lfs_url_from_config(*text);
    if (!selected(patterns, e.path)) continue;
    if (!store::is_safe_repo_path(e.path))  // before anything is downloaded
      return make_error(Errc::bad_input,
                        fmt::format("refusing repository path '{}' of {} at {}: it leaves the "
                                    "snapshot; nothing was downloaded",
                                    e.path, t.repo_id, commit),
                        t.repo_page, "the repository is malformed or hostile; do not use it");
    Item it{e.path, e.size, e.blob_id, e.blob_id};
    if (e.size < lfs::kMaxPointerSize) {
      SD35_TRY(std::string text, bare.read_blob(e.blob_id));
      if (lfs::looks_like_pointer(text))
        if (auto p = lfs::parse_pointer(text)) {
          it.lfs = true;
          it.blob_id = p->oid;
          it.size = p->size;
        }
    }
    for (const auto& mf : m.model.files)
      if (mf.path == it.path && mf.sha256 && it.lfs && *mf.sha256 != it.blob_id)
        return make_error(
            Errc::integrity,
            fmt::format("{} at {} has oid {}, but the manifest pins {}", it.path, commit,
                        it.blob_id, *mf.sha256),
            t.repo_page,
            "the repository changed under the pinned revision, or the manifest is wrong");
    std::error_code ec;
    it.cached = sfs::exists(t.cache.blob(it.blob_id), ec) &&
                (!it.lfs || sfs::file_size(t.cache.blob(it.blob_id), ec) == it.size);
    items.push_back(std::move(it));
  }
  for (const auto& p : patterns)
    if (is_literal(p) &&
        std::none_of(items.begin(), items.end(), [&](const Item& i) { return i.path == p; }))
      return missing_file(p, t, commit);
  if (items.empty())
    return make_error(
        Errc::not_found, fmt::format("no file of {} at {} matches the patterns", t.repo_id, commit),
        t.repo_page, "check --include (globs match whole paths; use **/ for any directory)");

  // 3. Room for what is still missing.
  SD35_TRY_STATUS(preflight(opt, m, t, items));

  // 4. Regular files straight from the object database.
  std::error_code ec;
  sfs::create_directories(t.cache.blobs(), ec);
  if (ec) return fs::errno_error(ec.value(), "cannot create the cache directory", t.cache.blobs());
  for (auto& it : items) {
    if (it.lfs || it.cached) continue;
    auto st = bare.export_blob(it.git_blob, t.cache.blob(it.blob_id));
    if (!st && st.error().code == Errc::disk_full) {
      store::DiskFullContext ctx;
      ctx.file = it.path;
      ctx.id = it.blob_id;
      ctx.dir = t.cache.blobs();
      ctx.size = it.size;
      ctx.still_needed = still_needed(items);
      return store::disk_full_error(st.error(), ctx);
    }
    SD35_TRY_STATUS(std::move(st));
  }

  // 5. LFS objects: batch API for actions, then the transfer engine.
  lfs::BatchClient batch{lfs::lfs_endpoint(t.repo_url, lfs_url), &cred, &transport,
                         fetched->ref_name, t.repo_page};
  std::vector<lfs::Pointer> wanted;
  for (const auto& it : items)
    if (it.lfs && !it.cached &&
        std::none_of(wanted.begin(), wanted.end(),
                     [&](const lfs::Pointer& p) { return p.oid == it.blob_id; }))
      wanted.push_back({it.blob_id, it.size});
  lfs::TransferReport report;
  std::map<std::string, Error> object_errors;
  if (!wanted.empty()) {
    SD35_TRY(auto actions, batch.request_actions(wanted));
    std::vector<lfs::TransferJob> jobs;
    for (auto& a : actions) {
      auto label_of = [&] {
        for (const auto& it : items)
          if (it.blob_id == a.object.oid) return it.path;
        return a.object.oid;
      };
      if (!a.download) {
        object_errors[a.object.oid] =
            make_error(a.error_code == 404 || a.error_code == 410 ? Errc::not_found : Errc::network,
                       fmt::format("the LFS server has no usable copy of {} (oid {}): {} {}",
                                   label_of(), a.object.oid, a.error_code, a.error_message),
                       batch.endpoint,
                       "the object is missing on the server; report it to the repository owner");
        continue;
      }
      jobs.push_back({a.object.oid, a.object.size, std::move(*a.download),
                      t.cache.blob(a.object.oid), label_of()});
    }
    lfs::TransferOptions topt;
    topt.jobs = std::max(1, opt.jobs);
    topt.range_threshold = opt.range_threshold;
    topt.min_range = opt.min_range;
    topt.stall_timeout = std::chrono::seconds(std::max(1, opt.stall_timeout_s));
    topt.lock_dir = lock_dir;
    topt.credentials = &cred;
    topt.transport = &transport;
    topt.refresh = [&batch](const std::string& oid, std::uint64_t size) -> Result<lfs::Action> {
      SD35_TRY(auto again, batch.request_actions({{oid, size}}));
      if (again.empty() || !again[0].download)
        return make_error(Errc::not_found,
                          fmt::format("the LFS server no longer offers oid {}", oid),
                          batch.endpoint);
      return *again[0].download;
    };
    SD35_TRY(report, lfs::run_transfers(std::move(jobs), topt, rep));
    for (auto& o : report.objects) {
      if (!o.ok) object_errors[o.oid] = o.error;
      for (auto& it : items)  // another process finished it while this one waited for its lock
        if (o.cached && it.blob_id == o.oid) it.cached = true;
    }
  }

  // 6. The snapshot: only complete blobs are linked, so no partial file ever appears there.
  nlohmann::json files = nlohmann::json::array();
  std::uint64_t fallbacks = 0;
  std::optional<Error> first_error;
  for (auto& it : items) {
    if (auto e = object_errors.find(it.blob_id); e != object_errors.end()) {
      if (!first_error) first_error = e->second;
      files.push_back(file_doc(it, "failed"));
      continue;
    }
    auto kind = store::link_snapshot_file(t.cache, commit, it.path, it.blob_id,
                                          !env_flag("HF_HUB_DISABLE_SYMLINKS"));
    if (!kind) return std::move(kind).error();
    if (*kind != store::LinkKind::symlink) ++fallbacks;
    files.push_back(file_doc(it, it.cached ? "cached" : "downloaded"));
  }
  if (fallbacks > 0)
    rep.event(
        Level::warn,
        fmt::format(
            "{} file(s) placed in the snapshot as hardlinks or copies: symlinks are not available "
            "at {} (or HF_HUB_DISABLE_SYMLINKS is set)",
            fallbacks, t.cache.root.string()));
  if (first_error) {
    if (object_errors.size() > 1)
      first_error->message +=
          fmt::format(" (and {} more object(s) failed)", object_errors.size() - 1);
    return *first_error;
  }
  SD35_TRY_STATUS(store::write_ref(t.cache, t.revision, commit));

  double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::uint64_t total = 0, cached = 0;
  for (const auto& it : items) {
    total += it.size;
    if (it.cached) cached += it.size;
  }
  rep.result(
      "fetch",
      {{"ok", true},
       {"repo", t.repo_id},
       {"revision", t.revision},
       {"commit", commit},
       {"files", files},
       {"bytes_downloaded", report.bytes_downloaded},
       {"bytes_reread", report.bytes_reread},
       {"seconds", seconds},
       {"snapshot", t.cache.snapshot(commit).string()},
       {"summary",
        {fmt::format("{} file(s), {} of {} at {} in {}", items.size(), str::human_bytes(total),
                     t.repo_id, commit.substr(0, 12), t.cache.snapshot(commit).string()),
         fmt::format("downloaded {} in {:.1f} s ({} already cached)",
                     str::human_bytes(report.bytes_downloaded), seconds,
                     str::human_bytes(cached))}}});
  return Outcome::ok;
}

}  // namespace sd35::app
