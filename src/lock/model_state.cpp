#include "lock/model_state.hpp"

#include <fmt/format.h>

#include "net/http.hpp"
#include "store/hf_cache_layout.hpp"
#include "util/fs.hpp"
#include "util/strings.hpp"
#include "verify/content.hpp"

namespace sd35::lock {

namespace stdfs = std::filesystem;

std::string repo_url(std::string_view repo) {
  if (str::starts_with(repo, "http://") || str::starts_with(repo, "https://"))
    return net::redact_url(repo);
  return "https://huggingface.co/" + std::string(repo);
}

LockedModel model_from_cache(const Manifest& manifest, const stdfs::path& cache_dir) {
  LockedModel m;
  m.repo = repo_url(manifest.model.repo);
  m.revision = manifest.model.revision;
  auto fallback = [&] {
    m.commit.clear();
    m.verified = false;
    m.files.clear();
    for (const auto& f : manifest.model.files)
      m.files.push_back({f.path, f.size.value_or(0), f.sha256.value_or("")});
    return m;
  };
  auto repo_id = store::repo_id_from(manifest.model.repo);
  if (!repo_id) return fallback();
  auto rc = store::repo_cache(cache_dir, *repo_id);
  auto commit = rc.commit_for(manifest.model.revision);
  if (!commit) return fallback();
  m.commit = *commit;
  m.verified = true;
  std::error_code ec;
  for (const auto& f : manifest.model.files) {
    stdfs::path link = rc.snapshot(*commit) / f.path;
    auto size = stdfs::file_size(link, ec);
    if (ec) return fallback();
    // The snapshot entry links to blobs/<oid>; fetch names a blob after its verified content.
    std::string oid =
        stdfs::is_symlink(link, ec) ? stdfs::read_symlink(link, ec).filename().string() : "";
    if (f.sha256 && oid != *f.sha256) m.verified = false;
    if (f.size && *f.size != size) m.verified = false;
    m.files.push_back({f.path, size, oid.empty() ? f.sha256.value_or("") : oid});
  }
  return m;
}

Result<std::vector<FileCheck>> check_model_files(const LockedModel& model,
                                                 const stdfs::path& cache_dir) {
  SD35_TRY(auto repo_id, store::repo_id_from(model.repo));
  auto rc = store::repo_cache(cache_dir, repo_id);
  std::string commit =
      model.commit.empty() ? rc.commit_for(model.revision).value_or("") : model.commit;
  std::vector<FileCheck> out;
  if (commit.empty()) {
    for (const auto& f : model.files)
      out.push_back({f.path, false, false,
                     fmt::format("revision {} of {} is not in the cache {}", model.revision,
                                 repo_id, cache_dir.string())});
    return out;
  }
  // The verify library does the checking (size, sha256 / git blob id, LFS pointer files) with its
  // remembered-digest fast path, in the state file `sd35-setup verify` uses for this snapshot.
  std::vector<verify::Expectation> expect;
  for (const auto& f : model.files) {
    verify::Expectation e;
    e.path = f.path;
    e.size = f.size;
    if (f.oid.size() == 40)
      e.git_sha1 = f.oid;
    else if (!f.oid.empty())
      e.sha256 = f.oid;
    e.source = "lockfile";
    expect.push_back(std::move(e));
  }
  verify::ContentOptions options;
  options.state_file = rc.root / ".sd35-verify" / (commit + ".json");
  CollectingReporter findings;
  SD35_TRY(auto report, verify::verify_files(rc.snapshot(commit), expect, options, findings));
  for (const auto& o : report.files) {
    FileCheck c{o.path, o.ok, o.reused, ""};
    for (const auto& f : findings.findings)
      if (f.file == o.path && (f.verdict == Verdict::fail) != o.ok)
        c.detail += (c.detail.empty() ? "" : "; ") + f.detail;
    if (c.detail.empty())
      c.detail = !o.present ? "missing"
                 : o.reused ? "unchanged since last verified (size, mtime, ctime, inode)"
                            : "content hash matches";
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace sd35::lock
