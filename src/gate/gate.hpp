// The lock gate as a library: this machine against a lockfile, in four steps that each return
// findings (docs/ci-gating.md):
//   host      driver floor of the locked CUDA (compat::driver_runs_variant), GPU compute
//             capabilities, glibc
//   packages  the venv's wheels against the locked ones (lock::compare_wheel) and its Python
//   model     the locked files in the cache snapshot (verify's stat fast path: an unchanged file
//             costs a stat)
//   smoke     the locked smoke run again, in process, through a runner the caller gives
// The fast mode (what `verify --lock` without `--smoke` runs, and the fleet exporter polls) is
// host + packages + model: no smoke runner, no libtorch, a stat per model file.
// The result is a plain struct with a JSON form; exit codes are the caller's (app/verify_lock).
#pragma once

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "gate/smoke_step.hpp"
#include "host/host_facts.hpp"
#include "lock/lockfile.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::gate {

struct GateOptions {
  std::string lock_path;               // for the result and messages
  std::filesystem::path cache_dir;     // the HF cache holding the locked snapshot
  std::string venv;                    // check installed wheels (skipped when empty)
  std::optional<SmokeRunner> smoke;    // run the smoke step with it; nullopt: the fast mode
  SmokeEnvironment smoke_environment;  // where the smoke runs (venv / host file)
};

struct GateResult {
  std::string lock_path;
  std::string lock_digest;
  std::vector<Finding> findings;
  std::size_t model_files = 0;
  std::size_t model_fast = 0;  // model files decided by the stat fast path (no hashing)
  bool smoke_ran = false;
  double seconds = 0;

  // A content difference (model, wheel, smoke) wins over an incompatible host.
  [[nodiscard]] bool content_failed() const;
  [[nodiscard]] bool host_failed() const;
  [[nodiscard]] bool ok() const { return !content_failed() && !host_failed(); }
  [[nodiscard]] std::size_t failed() const;
  // {"ok", "lock", "lock_digest", "findings"[], "seconds", "model_files", "model_fast",
  //  "smoke", "summary"[]}: the `verify-lock` document.
  [[nodiscard]] nlohmann::json to_json() const;
  [[nodiscard]] std::vector<std::string> summary() const;
};

// The steps, each usable alone.
std::vector<Finding> check_host(const lock::Lockfile& locked, const HostFacts& host);
std::vector<Finding> check_packages(const lock::Lockfile& locked, const std::string& venv);
struct ModelStep {
  std::vector<Finding> findings;
  std::size_t files = 0, fast = 0;
};
Result<ModelStep> check_model(const lock::Lockfile& locked, const std::filesystem::path& cache_dir);

// Runs the steps (model, packages, host, then smoke when a runner is given). Errors: only what
// stops the gate from judging (the cache cannot be read); every difference is a finding.
Result<GateResult> run_gate(const lock::Lockfile& locked, const HostFacts& host,
                            const GateOptions& options);

// A finding of the gate: rule "lock", id "<step>:<what>".
Finding gate_finding(std::string id, std::string title, Verdict verdict, std::string detail,
                     std::string fix = {});

}  // namespace sd35::gate
