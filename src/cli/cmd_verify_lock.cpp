// `verify --lock`: the CI gate. When the verify command of issue-verify lands, its cmd_verify.cpp
// owns the `verify` subcommand and dispatches to app::verify_lock when --lock is given.
#include "app/verify_lock.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_verify_lock_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::VerifyLockOptions>();
  auto* cmd = root.add_subcommand(
      "verify",
      "Gate: check this machine against a lockfile; exit 0 ok, 3 host incompatible, 4 differs");
  cmd->add_option("--lock", opts->lock, "Lockfile (sd35.lock.json)")->required();
  cmd->add_option("--venv", opts->venv, "Also check the wheels installed in this venv");
  cmd->add_flag("--smoke", opts->smoke, "Re-run the smoke test and compare its fingerprint");
  cmd->add_option("--junit", opts->junit, "Write JUnit XML here");
  cmd->add_option("--host", opts->host_file, "Host facts instead of probing")
      ->check(CLI::ExistingFile);
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::verify_lock(global, *opts, r); };
  });
}

}  // namespace sd35::cli
