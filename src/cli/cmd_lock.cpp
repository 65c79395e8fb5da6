#include "app/lock.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_lock_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::LockOptions>();
  auto* cmd = root.add_subcommand(
      "lock", "Write sd35.lock.json: resolved wheels, host facts, model snapshot, smoke result");
  cmd->add_option("--out", opts->out, "Lockfile to write (default sd35.lock.json)");
  cmd->add_option("--from", opts->from,
                  "Resolution from `resolve --out` (default sd35-resolve.json when present)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--venv", opts->venv,
                  "Cross-check the installed wheels (or read them when there is no resolution)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--smoke-result", opts->smoke_result, "Output of `sd35-setup smoke --json`")
      ->check(CLI::ExistingFile);
  cmd->add_option("--host", opts->host_file, "Host facts instead of probing")
      ->check(CLI::ExistingFile);
  cmd->add_option("--created", opts->created,
                  "Timestamp to record (default none: reproducible bytes)");
  cmd->callback([&chosen, &global, opts, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // `lock export` / `lock diff` chose already
    chosen = [&global, opts](Reporter& r) { return app::lock(global, *opts, r); };
  });

  auto eopts = std::make_shared<app::LockExportOptions>();
  auto* exp = cmd->add_subcommand(
      "export", "Export the lock as requirements.txt (--hash lines) or PEP 751 pylock.toml");
  exp->add_option("--lock", eopts->lock, "Lockfile (default sd35.lock.json)")
      ->check(CLI::ExistingFile);
  exp->add_option("--format", eopts->format, "requirements | pylock")
      ->check(CLI::IsMember({"requirements", "pylock"}));
  exp->add_option("--out", eopts->out, "Write here instead of printing");
  exp->callback([&chosen, &global, eopts] {
    chosen = [&global, eopts](Reporter& r) { return app::lock_export(global, *eopts, r); };
  });

  auto dopts = std::make_shared<app::LockDiffOptions>();
  auto* dif = cmd->add_subcommand("diff", "Compare two lockfiles; exit 4 when they differ");
  dif->add_option("a", dopts->a, "First lockfile")->required()->check(CLI::ExistingFile);
  dif->add_option("b", dopts->b, "Second lockfile")->required()->check(CLI::ExistingFile);
  dif->callback([&chosen, &global, dopts] {
    chosen = [&global, dopts](Reporter& r) { return app::lock_diff(global, *dopts, r); };
  });
}

}  // namespace sd35::cli
