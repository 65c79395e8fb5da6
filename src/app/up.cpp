#include "app/up.hpp"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <functional>

#include "app/fetch.hpp"
#include "app/install.hpp"
#include "app/lock.hpp"
#include "app/probe.hpp"
#include "app/resolve.hpp"
#include "app/smoke.hpp"
#include "app/verify.hpp"
#include "util/fs.hpp"

namespace sd35::app {
namespace {

namespace stdfs = std::filesystem;

// Forwards everything but keeps each stage's result document for the `up` summary instead of
// printing one document per stage.
class StageReporter final : public ForwardingReporter {
 public:
  using ForwardingReporter::ForwardingReporter;
  void finding(const Finding& f) override {
    // Passing findings of inner stages would drown the summary; failures and warnings matter.
    if (f.verdict == Verdict::fail || f.verdict == Verdict::warn) inner_.finding(f);
  }
  void result(std::string_view, const nlohmann::json& d) override { document = d; }
  nlohmann::json document = nlohmann::json::object();
};

struct StageRecord {
  std::string name;
  std::string status;  // ok | failed | skipped | not_ready | verification_failed
  double seconds = 0;
  std::string detail;
};

}  // namespace

Result<Outcome> up(const GlobalOptions& global, const UpOptions& o, Reporter& reporter) {
  std::error_code ec;
  stdfs::create_directories(o.dir, ec);
  const std::string resolution = (stdfs::path(o.dir) / "sd35-resolve.json").string();
  const std::string smoke_file = (stdfs::path(o.dir) / "sd35-smoke.json").string();
  const std::string lock_file = (stdfs::path(o.dir) / "sd35.lock.json").string();

  std::vector<StageRecord> stages;
  nlohmann::json documents = nlohmann::json::object();
  Result<Outcome> final_outcome = Outcome::ok;

  auto run_stage = [&](const std::string& name,
                       const std::function<Result<Outcome>(StageReporter&)>& fn) {
    if (!final_outcome || *final_outcome != Outcome::ok) {
      stages.push_back({name, "skipped", 0, "an earlier stage did not pass"});
      return;
    }
    reporter.info(fmt::format("== {}", name));
    StageReporter sr(reporter);
    auto t0 = std::chrono::steady_clock::now();
    Result<Outcome> r = fn(sr);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    documents[name] = sr.document;
    std::string detail;
    if (sr.document.contains("summary") && sr.document["summary"].is_array() &&
        !sr.document["summary"].empty())
      detail = sr.document["summary"].back().get<std::string>();
    if (!r) {
      stages.push_back({name, "failed", secs, r.error().describe()});
      final_outcome = r.error();
      return;
    }
    const char* status = *r == Outcome::ok          ? "ok"
                         : *r == Outcome::not_ready ? "not_ready"
                                                    : "verification_failed";
    stages.push_back({name, status, secs, detail});
    final_outcome = *r;
  };

  run_stage("resolve", [&](StageReporter& r) {
    ResolveOptions ro;
    ro.host_file = o.host_file;
    ro.indexes = o.indexes;
    ro.closure = !o.indexes.empty();
    ro.out = resolution;
    return resolve(global, ro, r);
  });
  if (o.skip_fetch) {
    stages.push_back({"fetch", "skipped", 0, "--skip-fetch: using the cache as it is"});
  } else {
    run_stage("fetch", [&](StageReporter& r) {
      FetchOptions fo;
      fo.jobs = o.jobs;
      return fetch(global, fo, r);
    });
  }
  run_stage("verify", [&](StageReporter& r) {
    VerifyOptions vo;
    vo.full = o.full_verify;
    return verify(global, vo, r);
  });
  if (o.venv.empty()) {
    stages.push_back({"install", "skipped", 0, "no --venv given"});
  } else {
    run_stage("install", [&](StageReporter& r) {
      InstallOptions io;
      io.venv = o.venv;
      io.from = resolution;
      io.host_file = o.host_file;
      return install(global, io, r);
    });
  }
  run_stage("smoke", [&](StageReporter& r) -> Result<Outcome> {
    SD35_TRY(Outcome res, smoke(global, SmokeOptions{}, r));
    // lock records the smoke result (path, device, metrics, fingerprint) from this file.
    SD35_TRY_STATUS(fs::write_file_atomic(smoke_file, r.document.dump(2) + "\n"));
    return res;
  });
  run_stage("lock", [&](StageReporter& r) {
    LockOptions lo;
    lo.out = lock_file;
    lo.from = resolution;
    lo.venv = o.venv;
    lo.smoke_result = smoke_file;
    lo.host_file = o.host_file;
    return lock(global, lo, r);
  });

  nlohmann::json jstages = nlohmann::json::array();
  std::vector<std::string> summary;
  for (const auto& s : stages) {
    jstages.push_back(
        {{"stage", s.name}, {"status", s.status}, {"seconds", s.seconds}, {"detail", s.detail}});
    summary.push_back(
        fmt::format("{:<8} {:<20} {:6.2f} s  {}", s.name, s.status, s.seconds, s.detail));
  }
  const bool ok = final_outcome && *final_outcome == Outcome::ok;
  summary.push_back(ok ? fmt::format("up: environment proven; lockfile {}", lock_file)
                       : "up: stopped at the first stage that did not pass (see above)");
  reporter.result("up", {{"ok", ok},
                         {"stages", jstages},
                         {"documents", documents},
                         {"lockfile", ok ? nlohmann::json(lock_file) : nlohmann::json()},
                         {"summary", summary}});
  return final_outcome;
}

}  // namespace sd35::app
