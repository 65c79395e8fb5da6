#include "app/export.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_export_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::ExportOptions>();
  auto* cmd = root.add_subcommand(
      "export", "Gate a fleet: Slurm health check + prolog, Kubernetes DaemonSet/Job, Dockerfile");
  cmd->add_option("target", opts->target, "slurm | k8s | docker")
      ->required()
      ->check(CLI::IsMember({"slurm", "k8s", "docker"}));
  cmd->add_option("--lock", opts->lock, "Lockfile (default sd35.lock.json)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", opts->out, "Folder to write (created)")->required();
  cmd->add_option("--venv", opts->venv, "The locked venv on the nodes (checked by the gate)");
  cmd->add_option("--binary", opts->binary,
                  "sd35-setup on the nodes (default: this executable's path)");
  cmd->add_flag("--prolog-smoke", opts->prolog_smoke,
                "slurm: the prolog runs the full gate with the smoke (default: fast)");
  cmd->add_option("--health-check-interval", opts->health_check_interval,
                  "slurm: HealthCheckInterval in seconds (default 300)")
      ->check(CLI::Range(10, 86400));
  cmd->add_option("--slurm-conf", opts->slurm_conf,
                  "slurm: slurm.conf for scontrol in the scripts (default: Slurm's own path)");
  cmd->add_option("--image", opts->image, "k8s: the gate image (default sd35-setup-gate:<lock>)");
  cmd->add_option("--namespace", opts->namespace_name, "k8s: namespace (default sd35-setup)");
  cmd->add_option("--nodes", opts->nodes, "k8s: GPU nodes the one-shot Job covers (default 1)")
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--interval", opts->interval, "k8s: seconds between gate runs (default 300)")
      ->check(CLI::Range(10, 86400));
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::export_fleet(global, *opts, r); };
  });
}

}  // namespace sd35::cli
