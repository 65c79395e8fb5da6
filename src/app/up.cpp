#include "app/up.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <optional>

#include "app/doctor.hpp"
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
    if (f.verdict == Verdict::fail && f.required) {
      if (!first_failure) first_failure = f;
      failures.push_back(f.id);
    }
  }
  void result(std::string_view, const nlohmann::json& d) override { document = d; }
  nlohmann::json document = nlohmann::json::object();
  std::optional<Finding> first_failure;
  std::vector<std::string> failures;  // ids of the failed required findings
};

struct StageRecord {
  std::string name;
  std::string status;  // ok | failed | skipped | not_ready | verification_failed
  double seconds = 0;
  std::string detail;
};

bool manifest_allows_cpu(const Manifest& m) {
  for (const auto& c : m.environment.candidates)
    for (const auto& v : c.cuda)
      if (v == "cpu") return true;
  return false;
}

// On a GPU-less host only the GPU checks fail; a manifest with a cpu candidate accepts that.
bool only_gpu_failures(const std::vector<std::string>& ids) {
  return !ids.empty() && std::all_of(ids.begin(), ids.end(), [](const std::string& id) {
    return id.rfind("gpu.", 0) == 0 || id.rfind("driver.", 0) == 0;
  });
}

// "proven" only for a smoke that ran on the GPU this host has, or on the CPU of a GPU-less host
// whose manifest allows CPU. smoke itself already fails on a GPU it cannot use.
Status honest_proof(const nlohmann::json& smoke_doc, const Manifest& manifest) {
  const auto env = smoke_doc.value("environment", nlohmann::json::object());
  if (env.value("device", "cpu") != "cpu" || manifest_allows_cpu(manifest)) return {};
  return make_error(Errc::host_not_ready,
                    "the smoke ran on the CPU and the manifest allows no CPU variant",
                    manifest.source,
                    "run `up` on the GPU machine this manifest is for, or add \"cpu\" to a "
                    "candidate's cuda list to accept a CPU-only environment");
}

Status check_up_options(const UpOptions& o) {
  if (o.no_image && (!o.prompt.empty() || !o.image.empty()))
    return make_error(Errc::usage,
                      fmt::format("--no-image with {}", o.prompt.empty() ? "--image" : "--prompt"),
                      "--no-image", "drop --no-image to make the image, or drop --prompt/--image");
  return {};
}

// The smoke stage's prompt: the first image, unless --no-image. Without --prompt the default
// prompt is optional: where the pipeline cannot run, the smoke says why and `up` goes on.
void first_image_options(const UpOptions& o, SmokeOptions& so) {
  if (o.no_image) return;
  so.prompts = {o.prompt.empty() ? std::string(kFirstImagePrompt) : o.prompt};
  so.image = o.image.empty() ? (stdfs::path(o.dir) / kFirstImage).string() : o.image;
  so.seed = kFirstImageSeed;
  so.prompt_optional = o.prompt.empty();
}

// The summary line about the first image: where it is, or why there is none.
std::optional<std::string> first_image_line(const nlohmann::json& documents) {
  if (!documents.contains("smoke") || !documents["smoke"].is_object()) return std::nullopt;
  const nlohmann::json& d = documents["smoke"];
  if (d.contains("image") && d["image"].is_object())
    return fmt::format("first image: {} (pixels sha256 {})", d["image"].value("path", ""),
                       d["image"].value("fingerprint", "").substr(0, 16));
  if (d.contains("image_note")) return "no first image: " + d.value("image_note", "");
  return std::nullopt;
}

// The `up` result: every stage with its status and seconds, the stages' documents, and the
// last line: what the smoke proved, or where `up` stopped.
nlohmann::json up_document(const std::vector<StageRecord>& stages, const nlohmann::json& documents,
                           bool ok, const std::string& lock_file) {
  nlohmann::json jstages = nlohmann::json::array();
  std::vector<std::string> summary;
  for (const auto& s : stages) {
    jstages.push_back(
        {{"stage", s.name}, {"status", s.status}, {"seconds", s.seconds}, {"detail", s.detail}});
    summary.push_back(
        fmt::format("{:<8} {:<20} {:6.2f} s  {}", s.name, s.status, s.seconds, s.detail));
  }
  const nlohmann::json smoke_summary =
      documents.contains("smoke") ? documents["smoke"].value("summary", nlohmann::json::array())
                                  : nlohmann::json::array();
  const std::string proven = !smoke_summary.empty() && smoke_summary.back().is_string()
                                 ? smoke_summary.back().get<std::string>()
                                 : std::string("proven");
  if (auto line = first_image_line(documents)) summary.push_back(*line);
  summary.push_back(
      ok ? fmt::format("up: {}; lockfile {}", proven, lock_file)
         : "up: NOT proven: stopped at the first stage that did not pass (see above)");
  return {{"ok", ok},
          {"stages", jstages},
          {"documents", documents},
          {"lockfile", ok ? nlohmann::json(lock_file) : nlohmann::json()},
          {"summary", summary}};
}

}  // namespace

Result<Outcome> up(const GlobalOptions& global, const UpOptions& o, Reporter& reporter) {
  SD35_TRY_STATUS(check_up_options(o));
  std::error_code ec;
  stdfs::create_directories(o.dir, ec);
  const std::string resolution = (stdfs::path(o.dir) / "sd35-resolve.json").string();
  const std::string smoke_file = (stdfs::path(o.dir) / "sd35-smoke.json").string();
  const std::string lock_file = (stdfs::path(o.dir) / "sd35.lock.json").string();

  std::vector<StageRecord> stages;
  nlohmann::json documents = nlohmann::json::object();
  Result<Outcome> final_outcome = Outcome::ok;

  SD35_TRY(Manifest manifest, load_manifest_for(global));
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
    if (sr.first_failure && (!r || *r != Outcome::ok))
      detail = fmt::format("{}: {}{}", sr.first_failure->id, sr.first_failure->detail,
                           sr.first_failure->fix.empty() ? "" : "; fix: " + sr.first_failure->fix);
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

  // The doctor first: a host that cannot run SD3.5 FP8 stops here, with the check's fix, before
  // anything is downloaded or installed.
  run_stage("doctor", [&](StageReporter& r) -> Result<Outcome> {
    DoctorOptions d;
    d.host_file = o.host_file;
    SD35_TRY(Outcome res, doctor(global, d, r));
    if (res != Outcome::not_ready || !manifest_allows_cpu(manifest) ||
        !only_gpu_failures(r.failures))
      return res;
    r.first_failure.reset();
    r.document["summary"].push_back(fmt::format(
        "no usable NVIDIA GPU ({}), and the manifest allows CPU: going on for a CPU environment",
        fmt::join(r.failures, ", ")));
    return Outcome::ok;
  });
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
      io.python = o.python;
      io.system_site_packages = o.system_site_packages;
      return install(global, io, r);
    });
  }
  run_stage("smoke", [&](StageReporter& r) -> Result<Outcome> {
    SmokeOptions so;
    so.venv = o.venv;  // the environment `install` just made, not the tool's own libtorch
    so.host_file = o.host_file;
    first_image_options(o, so);
    SD35_TRY(Outcome res, smoke(global, so, r));
    if (res == Outcome::ok) SD35_TRY_STATUS(honest_proof(r.document, manifest));
    // A record for the user; the lock stage gets the document in process (documents["smoke"]).
    SD35_TRY_STATUS(fs::write_file_atomic(smoke_file, r.document.dump(2) + "\n"));
    return res;
  });
  run_stage("lock", [&](StageReporter& r) {
    LockOptions lo;
    lo.out = lock_file;
    lo.from = resolution;
    lo.venv = o.venv;
    lo.smoke_document = documents["smoke"];
    lo.host_file = o.host_file;
    return lock(global, lo, r);
  });

  const bool ok = final_outcome && *final_outcome == Outcome::ok;
  reporter.result("up", up_document(stages, documents, ok, lock_file));
  return final_outcome;
}

}  // namespace sd35::app
