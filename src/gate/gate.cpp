#include "gate/gate.hpp"

#include <fmt/format.h>

#include <chrono>

#include "lock/model_state.hpp"

namespace sd35::gate {

Finding gate_finding(std::string id, std::string title, Verdict verdict, std::string detail,
                     std::string fix) {
  Finding f;
  f.id = std::move(id);
  f.title = std::move(title);
  f.verdict = verdict;
  f.detail = std::move(detail);
  f.fix = std::move(fix);
  f.rule = "lock";
  return f;
}

Result<ModelStep> check_model(const lock::Lockfile& l, const std::filesystem::path& cache_dir) {
  SD35_TRY(auto files, lock::check_model_files(l.model, cache_dir));
  ModelStep step;
  step.files = files.size();
  for (const auto& c : files) {
    step.fast += c.fast ? 1 : 0;
    step.findings.push_back(
        gate_finding("model:" + c.path, c.path, c.ok ? Verdict::pass : Verdict::fail, c.detail,
                     c.ok ? "" : "sd35-setup fetch (then verify) to restore the locked file"));
  }
  return step;
}

Result<GateResult> run_gate(const lock::Lockfile& locked, const HostFacts& host,
                            const GateOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  GateResult r;
  r.lock_path = options.lock_path;
  r.lock_digest = lock::digest_of(lock::to_json_unsigned(locked));
  SD35_TRY(ModelStep model, check_model(locked, options.cache_dir));
  r.model_files = model.files;
  r.model_fast = model.fast;
  r.findings = std::move(model.findings);
  for (auto& f : check_packages(locked, options.venv)) r.findings.push_back(std::move(f));
  for (auto& f : check_host(locked, host)) r.findings.push_back(std::move(f));
  if (options.smoke) {
    r.smoke_ran = true;
    for (auto& f :
         check_smoke(locked.smoke, options.cache_dir, options.smoke_environment, *options.smoke))
      r.findings.push_back(std::move(f));
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return r;
}

bool GateResult::content_failed() const {
  for (const auto& f : findings)
    if (f.verdict == Verdict::fail && !f.id.starts_with("host:")) return true;
  return false;
}

bool GateResult::host_failed() const {
  for (const auto& f : findings)
    if (f.verdict == Verdict::fail && f.id.starts_with("host:")) return true;
  return false;
}

std::size_t GateResult::failed() const {
  std::size_t n = 0;
  for (const auto& f : findings) n += f.verdict == Verdict::fail ? 1 : 0;
  return n;
}

std::vector<std::string> GateResult::summary() const {
  std::vector<std::string> out;
  out.push_back(ok() ? fmt::format("PASS: this machine matches {} ({} checks, {} of {} model "
                                   "file(s) by stat fast path{})",
                                   lock_path, findings.size(), model_fast, model_files,
                                   smoke_ran ? ", smoke reproduced" : "")
                     : fmt::format("FAIL: {} of {} checks differ from {}", failed(),
                                   findings.size(), lock_path));
  for (const auto& f : findings)
    if (f.verdict == Verdict::fail) out.push_back(fmt::format("  {}: {}", f.id, f.detail));
  return out;
}

nlohmann::json GateResult::to_json() const {
  nlohmann::json jf = nlohmann::json::array();
  for (const auto& f : findings) jf.push_back(f.to_json());
  return {{"ok", ok()},
          {"lock", lock_path},
          {"lock_digest", lock_digest},
          {"findings", jf},
          {"seconds", seconds},
          {"model_files", model_files},
          {"model_fast", model_fast},
          {"smoke", smoke_ran},
          {"summary", summary()}};
}

}  // namespace sd35::gate
