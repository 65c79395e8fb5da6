#include "app/fetch.hpp"

#include <fmt/format.h>

#include <chrono>

#include "fetch/link.hpp"
#include "fetch/model_extras.hpp"
#include "fetch/offline.hpp"
#include "fetch/plan.hpp"
#include "fetch/preflight.hpp"
#include "fetch/repo_fetch.hpp"
#include "fetch/transfer.hpp"
#include "util/strings.hpp"

namespace sd35::app {
namespace {

fetch::TransferSettings transfer_settings(const FetchOptions& opt) {
  fetch::TransferSettings s;
  s.jobs = opt.jobs;
  s.range_threshold = opt.range_threshold;
  s.min_range = opt.min_range;
  s.stall_timeout = std::chrono::seconds(opt.stall_timeout_s);
  return s;
}

nlohmann::json extra_doc(const fetch::RepoPlan& p, const std::string& commit,
                         const std::filesystem::path& snapshot, nlohmann::json files) {
  return {{"repo", p.repo_id},
          {"revision", p.revision},
          {"commit", commit},
          {"snapshot", snapshot.string()},
          {"files", std::move(files)}};
}

// The folder of the extra files (tokenizers) when the plan fetched any.
Status add_extras_folder(const Manifest& m, const fetch::Plan& plan, const store::HubEnv& env,
                         nlohmann::json& doc) {
  if (plan.repos.size() < 2) return ok();
  SD35_TRY(auto dir, fetch::tokenizers_dir(m, env));
  doc["tokenizers"] = dir.string();
  doc["summary"].push_back(
      fmt::format("extra files (tokenizers) of {} in {}", m.name, dir.string()));
  return ok();
}

Result<Outcome> fetch_offline(const Manifest& m, const fetch::Plan& plan, const store::HubEnv& env,
                              Reporter& rep) {
  std::vector<fetch::OfflineRepo> found;
  for (const auto& r : plan.repos) {
    SD35_TRY(auto o, fetch::resolve_offline(r));
    found.push_back(std::move(o));
  }
  const auto& p = plan.repos.front();
  const auto& model = found.front();
  nlohmann::json doc = {
      {"ok", true},
      {"offline", true},
      {"repo", p.repo_id},
      {"revision", p.revision},
      {"commit", model.commit},
      {"files", model.files},
      {"bytes_downloaded", 0},
      {"seconds", 0},
      {"snapshot", model.snapshot.string()},
      {"summary",
       {fmt::format("offline: {} file(s) of {} at {} are in the cache: {}", model.files.size(),
                    p.repo_id, model.commit.substr(0, 12), model.snapshot.string())}}};
  doc["extras"] = nlohmann::json::array();
  for (std::size_t i = 1; i < found.size(); ++i)
    doc["extras"].push_back(
        extra_doc(plan.repos[i], found[i].commit, found[i].snapshot, found[i].files));
  SD35_TRY_STATUS(add_extras_folder(m, plan, env, doc));
  rep.result("fetch", doc);
  return Outcome::ok;
}

// Where a fetch spends its time: seconds per phase, in the result's `phase_seconds`.
struct PhaseClock {
  std::chrono::steady_clock::time_point mark = std::chrono::steady_clock::now();
  nlohmann::json laps = nlohmann::json::object();
  void lap(const char* name) {
    const auto now = std::chrono::steady_clock::now();
    laps[name] = std::chrono::duration<double>(now - mark).count();
    mark = now;
  }
};

// Credentials, tree and file selection of every repository, before any byte is downloaded.
Status prepare(std::vector<fetch::RepoFetch>& repos, const store::HubEnv& env,
               const FetchOptions& opt, const net::Transport& transport, Reporter& rep) {
  for (auto& r : repos) {
    r.lock_dir = env.cache_dir / ".locks" / store::repo_folder_name(r.plan.repo_id);
    fetch::find_repo_credentials(r, env, opt.bearer, transport, rep);
    SD35_TRY_STATUS(fetch::fetch_tree(r, env.cache_dir, transport,
                                      std::chrono::seconds(opt.stall_timeout_s), rep));
    SD35_TRY_STATUS(fetch::select_repo_files(r));
  }
  return ok();
}

Status check_space(const std::vector<fetch::RepoFetch>& repos, const store::HubEnv& env,
                   const FetchOptions& opt) {
  fetch::SpaceTally need;
  for (const auto& r : repos) need += fetch::tally(r.selection.items, r.plan.cache);
  return fetch::preflight(env.cache_dir, need, opt.space);
}

Status transfer(std::vector<fetch::RepoFetch>& repos, const FetchOptions& opt,
                const net::Transport& transport, Reporter& rep) {
  std::uint64_t still_needed = 0;
  for (const auto& r : repos) still_needed += fetch::still_needed(r.selection.items);
  for (auto& r : repos) {
    SD35_TRY_STATUS(fetch::export_regular_files(r, still_needed));
    SD35_TRY_STATUS(fetch::download_lfs(r, transfer_settings(opt), transport, rep));
  }
  return ok();
}

Result<std::vector<nlohmann::json>> link(std::vector<fetch::RepoFetch>& repos,
                                         const store::HubEnv& env, Reporter& rep) {
  std::vector<nlohmann::json> files;
  for (auto& r : repos) {
    SD35_TRY(auto f, fetch::link_snapshot(r, env.symlinks, rep));
    files.push_back(std::move(f));
  }
  return files;
}

nlohmann::json result_doc(const std::vector<fetch::RepoFetch>& repos,
                          std::vector<nlohmann::json> files, double seconds) {
  const auto& s = repos.front();
  const std::string& commit = s.fetched.commit;
  std::uint64_t total = 0, cached = 0, downloaded = 0, reread = 0;
  for (const auto& r : repos) {
    for (const auto& it : r.selection.items) {
      total += it.size;
      if (it.cached) cached += it.size;
    }
    downloaded += r.report.bytes_downloaded;
    reread += r.report.bytes_reread;
  }
  const auto snapshot = s.plan.cache.snapshot(commit).string();
  nlohmann::json doc = {
      {"ok", true},
      {"repo", s.plan.repo_id},
      {"revision", s.plan.revision},
      {"commit", commit},
      {"files", std::move(files.front())},
      {"bytes_downloaded", downloaded},
      {"bytes_reread", reread},
      {"seconds", seconds},
      {"snapshot", snapshot},
      {"extras", nlohmann::json::array()},
      {"summary",
       {fmt::format("{} file(s), {} of {} at {} in {}", s.selection.items.size(),
                    str::human_bytes(total), s.plan.repo_id, commit.substr(0, 12), snapshot),
        fmt::format("downloaded {} in {:.1f} s ({} already cached)", str::human_bytes(downloaded),
                    seconds, str::human_bytes(cached))}}};
  for (std::size_t i = 1; i < repos.size(); ++i)
    doc["extras"].push_back(extra_doc(repos[i].plan, repos[i].fetched.commit,
                                      repos[i].plan.cache.snapshot(repos[i].fetched.commit),
                                      std::move(files[i])));
  return doc;
}

}  // namespace

Result<Outcome> fetch(const GlobalOptions& global, const FetchOptions& opt, Reporter& rep) {
  const auto started = std::chrono::steady_clock::now();
  SD35_TRY(Manifest m, load_manifest_for(global));
  const store::HubEnv env = hub_env_for(global);
  const fetch::Request request{opt.repo, opt.revision, opt.include};
  SD35_TRY(fetch::Plan plan, fetch::make_plan(m, request, env));
  if (env.offline) return fetch_offline(m, plan, env, rep);
  SD35_TRY(net::Transport transport, env.transport(opt.ca_file));
  std::vector<fetch::RepoFetch> repos(plan.repos.begin(), plan.repos.end());
  PhaseClock clock;
  SD35_TRY_STATUS(prepare(repos, env, opt, transport, rep));
  clock.lap("git");
  SD35_TRY_STATUS(check_space(repos, env, opt));  // room for what is still missing
  SD35_TRY_STATUS(transfer(repos, opt, transport, rep));
  clock.lap("transfer");
  SD35_TRY(auto files, link(repos, env, rep));
  clock.lap("link");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto doc = result_doc(repos, std::move(files), seconds);
  double after_last_byte = 0;
  for (const auto& r : repos) after_last_byte += r.report.seconds_after_last_byte;
  clock.laps["transfer_after_last_byte"] = after_last_byte;
  doc["phase_seconds"] = clock.laps;
  SD35_TRY_STATUS(add_extras_folder(m, plan, env, doc));
  rep.result("fetch", doc);
  return Outcome::ok;
}

}  // namespace sd35::app
