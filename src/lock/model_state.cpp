#include "lock/model_state.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "net/http.hpp"
#include "store/snapshot_lookup.hpp"
#include "util/fs.hpp"
#include "util/sha256.hpp"
#include "util/strings.hpp"
#include "verify/content.hpp"

namespace sd35::lock {

namespace stdfs = std::filesystem;

namespace {

struct SnapshotFile {
  bool present = false;
  bool ok = false;  // present in the snapshot and matching the manifest's size and sha256
  std::uint64_t size = 0;
  std::string oid;  // the blob the snapshot entry links to ("" for a copy)
};

// One manifest file in a snapshot; fetch names a blob after its verified content.
SnapshotFile snapshot_file(const stdfs::path& snapshot, const std::string& path,
                           const std::optional<std::uint64_t>& size,
                           const std::optional<std::string>& sha256) {
  SnapshotFile f;
  const stdfs::path link = snapshot / path;
  std::error_code ec;
  f.size = stdfs::file_size(link, ec);
  if (ec) return f;
  f.present = true;
  f.oid = stdfs::is_symlink(link, ec) ? stdfs::read_symlink(link, ec).filename().string() : "";
  bool content_ok = !sha256 || f.oid == *sha256;
  if (!content_ok && f.oid.size() == 40) {  // a regular file (blob named by its git sha1)
    auto digest = sha256_file(link);
    content_ok = digest && *digest == *sha256;
  }
  f.ok = content_ok && (!size || *size == f.size);
  if (f.oid.empty()) f.oid = sha256.value_or("");
  return f;
}

std::optional<stdfs::path> snapshot_of(const stdfs::path& cache_dir, const std::string& repo,
                                       const std::string& revision, std::string& commit) {
  auto snap = store::find_snapshot(cache_dir, repo, revision);
  if (!snap || !snap->commit) return std::nullopt;
  commit = *snap->commit;
  return snap->path;
}

// Extra files: each from its own repository's snapshot; verified=false for any not fetched.
std::vector<LockedExtraFile> extras_from_cache(const Manifest& manifest, const store::HubEnv& env,
                                               bool& verified) {
  std::vector<LockedExtraFile> out;
  for (const auto& x : manifest.model.extra_files) {
    LockedExtraFile l{
        repo_url(x.repo, env.endpoint), x.revision, "", x.path, x.as, x.size.value_or(0),
        x.sha256.value_or("")};
    std::string commit;
    if (auto snap = snapshot_of(env.cache_dir, x.repo, x.revision, commit)) {
      const auto f = snapshot_file(*snap, x.path, x.size, x.sha256);
      if (f.present) {
        l.commit = commit;
        l.size = f.size;
        l.oid = f.oid;
      }
      verified = verified && f.ok;
    } else {
      verified = false;
    }
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace

std::string repo_url(std::string_view repo, std::string_view endpoint) {
  if (str::starts_with(repo, "http://") || str::starts_with(repo, "https://"))
    return net::redact_url(repo);
  std::string base(endpoint);
  while (str::ends_with(base, "/")) base.pop_back();
  return base + "/" + std::string(repo);
}

LockedModel model_from_cache(const Manifest& manifest, const store::HubEnv& env) {
  LockedModel m;
  m.repo = repo_url(manifest.model.repo, env.endpoint);
  m.revision = manifest.model.revision;
  auto fallback = [&] {
    m.commit.clear();
    m.verified = false;
    m.files.clear();
    for (const auto& f : manifest.model.files)
      m.files.push_back({f.path, f.size.value_or(0), f.sha256.value_or("")});
    return m;
  };
  m.verified = true;
  m.extra_files = extras_from_cache(manifest, env, m.verified);
  auto snap = snapshot_of(env.cache_dir, manifest.model.repo, manifest.model.revision, m.commit);
  if (!snap) return fallback();
  for (const auto& f : manifest.model.files) {
    const auto got = snapshot_file(*snap, f.path, f.size, f.sha256);
    if (!got.present) return fallback();
    m.verified = m.verified && got.ok;
    m.files.push_back({f.path, got.size, got.oid});
  }
  return m;
}

namespace {

struct LockedSet {  // files of one repository at one commit
  std::string repo, revision, commit;
  std::vector<verify::Expectation> expect;
  std::map<std::string, std::string> shown;  // repo path -> the name reported (`as` for extras)
};

verify::Expectation expectation(const std::string& path, std::uint64_t size,
                                const std::string& oid) {
  verify::Expectation e;
  e.path = path;
  e.size = size;
  if (oid.size() == 40)
    e.git_sha1 = oid;
  else if (!oid.empty())
    e.sha256 = oid;
  e.source = "lockfile";
  return e;
}

std::vector<LockedSet> locked_sets(const LockedModel& model) {
  std::vector<LockedSet> sets;
  sets.push_back(LockedSet{model.repo, model.revision, model.commit, {}, {}});
  for (const auto& f : model.files) {
    sets.front().expect.push_back(expectation(f.path, f.size, f.oid));
    sets.front().shown[f.path] = f.path;
  }
  for (const auto& x : model.extra_files) {
    auto it = std::find_if(sets.begin() + 1, sets.end(), [&](const LockedSet& s) {
      return s.repo == x.repo && s.revision == x.revision && s.commit == x.commit;
    });
    if (it == sets.end()) {
      sets.push_back(LockedSet{x.repo, x.revision, x.commit, {}, {}});
      it = std::prev(sets.end());
    }
    it->expect.push_back(expectation(x.path, x.size, x.oid));
    it->shown[x.path] = x.as;
  }
  return sets;
}

// The verify library does the checking (size, sha256 / git blob id, LFS pointer files) with its
// remembered-digest fast path, in the state file `sd35-setup verify` uses for this snapshot.
Status check_set(const LockedSet& set, const stdfs::path& cache_dir, std::vector<FileCheck>& out) {
  SD35_TRY(auto snap, store::find_snapshot(cache_dir, set.repo,
                                           set.commit.empty() ? set.revision : set.commit));
  if (!snap.commit) {
    for (const auto& e : set.expect)
      out.push_back({set.shown.at(e.path), false, false,
                     fmt::format("revision {} of {} is not in the cache {}", set.revision,
                                 snap.repo_id, cache_dir.string())});
    return ok();
  }
  verify::ContentOptions options;
  options.state_file = snap.cache.root / ".sd35-verify" / (*snap.commit + ".json");
  CollectingReporter findings;
  SD35_TRY(auto report, verify::verify_files(snap.path, set.expect, options, findings));
  for (const auto& o : report.files) {
    FileCheck c{set.shown.at(o.path), o.ok, o.reused, ""};
    for (const auto& f : findings.findings)
      if (f.file == o.path && (f.verdict == Verdict::fail) != o.ok)
        c.detail += (c.detail.empty() ? "" : "; ") + f.detail;
    if (c.detail.empty())
      c.detail = !o.present ? "missing"
                 : o.reused ? "unchanged since last verified (size, mtime, ctime, inode)"
                            : "content hash matches";
    out.push_back(std::move(c));
  }
  return ok();
}

}  // namespace

Result<std::vector<FileCheck>> check_model_files(const LockedModel& model,
                                                 const stdfs::path& cache_dir) {
  std::vector<FileCheck> out;
  for (const auto& set : locked_sets(model)) SD35_TRY_STATUS(check_set(set, cache_dir, out));
  return out;
}

}  // namespace sd35::lock
