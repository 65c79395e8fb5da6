#include "app/verify_lock.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>

#include "app/probe.hpp"
#include "app/smoke.hpp"
#include "gate/gate.hpp"
#include "gate/junit.hpp"
#include "lock/lockfile.hpp"
#include "util/fs.hpp"

namespace sd35::app {
namespace {

// Keeps the smoke's result document for the gate to judge; its events and progress go on, its
// own findings (the Python-side checks) stay inside.
class SmokeCapture final : public ForwardingReporter {
 public:
  using ForwardingReporter::ForwardingReporter;
  void finding(const Finding& /*finding*/) override {}
  void result(std::string_view /*kind*/, const nlohmann::json& d) override { document = d; }
  nlohmann::json document = nlohmann::json::object();
};

SmokeOptions smoke_options(const gate::SmokeParams& p) {
  SmokeOptions o;
  o.steps = p.steps.value_or(0);
  if (p.latent) o.latent = fmt::format("{}x{}", p.latent->first, p.latent->second);
  o.guidance = p.guidance.value_or(-1);
  o.shift = p.shift.value_or(-1);
  o.precision = p.precision;
  o.synthetic = p.synthetic;
  o.checkpoint = p.checkpoint;
  o.venv = p.venv;
  o.python = p.python;
  o.host_file = p.host_file;
  for (const auto& [name, spec] : p.companions) o.requires_.push_back(name + spec);
  if (p.image) {
    o.prompts = p.image->prompts;  // the whole locked batch, in order
    o.negatives = p.image->negatives;
    o.seed = p.image->seed;
    o.size = p.image->size;
    // The picture is only compared, by its pixels' fingerprint: a file of this process's own,
    // removed after the run.
    std::error_code ec;
    o.image = (std::filesystem::temp_directory_path(ec) /
               fmt::format("sd35-gate-{}.png", static_cast<long>(::getpid())))
                  .string();
  }
  return o;
}

// The smoke step's runner: `smoke` itself, in this process, with the same manifest and cache.
gate::SmokeRunner in_process_smoke(const GlobalOptions& global, Reporter& reporter) {
  return [&global, &reporter](const gate::SmokeParams& p) -> Result<gate::SmokeOutcome> {
    SmokeCapture capture(reporter);
    const SmokeOptions o = smoke_options(p);
    auto ran = smoke(global, o, capture);
    std::error_code ec;
    if (!o.image.empty()) std::filesystem::remove(o.image, ec);
    SD35_TRY(Outcome outcome, std::move(ran));
    return gate::SmokeOutcome{outcome == Outcome::ok, std::move(capture.document)};
  };
}

}  // namespace

Result<Outcome> verify_lock(const GlobalOptions& global, const VerifyLockOptions& options,
                            Reporter& reporter) {
  SD35_TRY(auto l, lock::load(options.lock));
  // Only what the gate compares (driver, GPUs, glibc): no Python probe, which imports torch and
  // would take seconds of a Slurm health check's budget.
  SD35_TRY(HostFacts host, gate_host_facts(options.host_file));
  gate::GateOptions go;
  go.lock_path = options.lock;
  go.cache_dir = resolve_cache_dir(global);
  go.venv = options.venv;
  go.smoke_environment = {options.venv, options.host_file};
  if (options.smoke) go.smoke = in_process_smoke(global, reporter);
  SD35_TRY(gate::GateResult result, gate::run_gate(l, host, go));
  for (const auto& f : result.findings) reporter.finding(f);
  if (!options.junit.empty())
    SD35_TRY_STATUS(fs::write_file_atomic(
        options.junit,
        gate::junit_xml("sd35-setup verify --lock", result.findings, result.seconds)));
  reporter.result("verify-lock", result.to_json());
  return result.content_failed() ? Outcome::verification_failed
         : result.host_failed()  ? Outcome::not_ready
                                 : Outcome::ok;
}

}  // namespace sd35::app
