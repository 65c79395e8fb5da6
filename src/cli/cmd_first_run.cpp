#include "app/first_run.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_first_run_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::FirstRunOptions>();
  auto* cmd = root.add_subcommand(
      "first-run",
      "What this machine can and cannot do for SD3.5 FP8, and the next command (exit 0 when the "
      "tool works; `doctor` is the CI check)");
  cmd->add_option("--host", opts->host_file,
                  "Host facts from `sd35-setup probe --out FILE` instead of probing")
      ->check(CLI::ExistingFile);
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::first_run(global, *opts, r); };
  });
}

}  // namespace sd35::cli
