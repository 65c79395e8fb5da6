#include "fetch/transfer.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lfs/batch.hpp"
#include "store/disk_full.hpp"
#include "util/fs.hpp"

namespace sd35::fetch {
namespace {

namespace sfs = std::filesystem;

std::string label_of(const RepoFetch& r, const std::string& oid) {
  for (const auto& it : r.selection.items)
    if (it.blob_id == oid) return it.path;
  return oid;
}

// Transfer jobs for the batch answer; objects the server cannot give are recorded as errors.
std::vector<lfs::TransferJob> jobs_for(RepoFetch& r, std::vector<lfs::ObjectResult> actions,
                                       const std::string& endpoint) {
  std::vector<lfs::TransferJob> jobs;
  for (auto& a : actions) {
    if (!a.download) {
      r.object_errors[a.object.oid] = make_error(
          a.error_code == 404 || a.error_code == 410 ? Errc::not_found : Errc::network,
          fmt::format("the LFS server has no usable copy of {} (oid {}): {} {}",
                      label_of(r, a.object.oid), a.object.oid, a.error_code, a.error_message),
          endpoint, "the object is missing on the server; report it to the repository owner");
      continue;
    }
    jobs.push_back({a.object.oid, a.object.size, std::move(*a.download),
                    r.plan.cache.blob(a.object.oid), label_of(r, a.object.oid)});
  }
  return jobs;
}

std::vector<lfs::Pointer> wanted_objects(const RepoFetch& r) {
  std::vector<lfs::Pointer> wanted;
  for (const auto& it : r.selection.items)
    if (it.lfs && !it.cached && std::none_of(wanted.begin(), wanted.end(), [&](const auto& p) {
          return p.oid == it.blob_id;
        }))
      wanted.push_back({it.blob_id, it.size});
  return wanted;
}

}  // namespace

Status export_regular_files(RepoFetch& r, std::uint64_t still_needed) {
  const auto& cache = r.plan.cache;
  std::error_code ec;
  sfs::create_directories(cache.blobs(), ec);
  if (ec) return fs::errno_error(ec.value(), "cannot create the cache directory", cache.blobs());
  for (auto& it : r.selection.items) {
    if (it.lfs || it.cached) continue;
    auto st = r.bare->export_blob(it.git_blob, cache.blob(it.blob_id));
    if (!st && st.error().code == Errc::disk_full) {
      store::DiskFullContext ctx;
      ctx.file = it.path;
      ctx.id = it.blob_id;
      ctx.dir = cache.blobs();
      ctx.size = it.size;
      ctx.still_needed = still_needed;
      return store::disk_full_error(st.error(), ctx);
    }
    SD35_TRY_STATUS(std::move(st));
  }
  return ok();
}

Status download_lfs(RepoFetch& r, const TransferSettings& settings, const net::Transport& transport,
                    Reporter& rep) {
  auto wanted = wanted_objects(r);
  if (wanted.empty()) return ok();
  lfs::BatchClient batch{lfs::lfs_endpoint(r.plan.repo_url, r.selection.lfs_url), &r.cred,
                         &transport, r.fetched.ref_name, r.plan.repo_page};
  SD35_TRY(auto actions, batch.request_actions(wanted));
  auto jobs = jobs_for(r, std::move(actions), batch.endpoint);
  lfs::TransferOptions topt;
  topt.jobs = std::max(1, settings.jobs);
  topt.range_threshold = settings.range_threshold;
  topt.min_range = settings.min_range;
  topt.stall_timeout = std::max(std::chrono::seconds(1), settings.stall_timeout);
  topt.lock_dir = r.lock_dir;
  topt.credentials = &r.cred;
  topt.transport = &transport;
  topt.refresh = [&batch](const std::string& oid, std::uint64_t size) -> Result<lfs::Action> {
    SD35_TRY(auto again, batch.request_actions({{oid, size}}));
    if (again.empty() || !again[0].download)
      return make_error(Errc::not_found, fmt::format("the LFS server no longer offers oid {}", oid),
                        batch.endpoint);
    return *again[0].download;
  };
  SD35_TRY(r.report, lfs::run_transfers(std::move(jobs), topt, rep));
  for (auto& o : r.report.objects) {
    if (!o.ok) r.object_errors[o.oid] = o.error;
    for (auto& it : r.selection.items)  // another process finished it while this one waited
      if (o.cached && it.blob_id == o.oid) it.cached = true;
  }
  return ok();
}

}  // namespace sd35::fetch
