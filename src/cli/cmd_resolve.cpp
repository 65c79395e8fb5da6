#include "app/resolve.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_resolve_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::ResolveOptions>();
  auto* cmd = root.add_subcommand(
      "resolve",
      "Pick torch + CUDA variant for this host (or --host FILE); exit 3 when nothing fits");
  cmd->add_option("--host", opts->host_file,
                  "Host facts from `sd35-setup probe --out FILE` instead of probing")
      ->check(CLI::ExistingFile);
  cmd->add_option("--python", opts->pythons, "Also probe this interpreter (repeatable)")
      ->check(interpreter_check());
  cmd->add_option(
      "--index", opts->indexes,
      "Simple-API index root to pin wheels + sha256 from (repeatable; {variant} is replaced, "
      "e.g. https://download.pytorch.org/whl/{variant})");
  cmd->add_flag("--closure", opts->closure,
                "Pin every dependency through pip's resolver (pip install --dry-run --report)");
  cmd->add_option("--out", opts->out, "Write the resolution JSON here (read by `install`)");
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::resolve(global, *opts, r); };
  });
}

}  // namespace sd35::cli
