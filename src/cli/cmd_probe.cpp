#include "app/probe.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_probe_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::ProbeCommandOptions>();
  auto* cmd = root.add_subcommand(
      "probe", "Write this machine's facts (OS, driver, GPUs, Python, disks) as JSON");
  cmd->add_option("--out", opts->out, "Write the facts to FILE instead of stdout");
  cmd->add_option("--python", opts->pythons, "Also probe this interpreter (repeatable)")
      ->check(interpreter_check());
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::probe(global, *opts, r); };
  });
}

}  // namespace sd35::cli
