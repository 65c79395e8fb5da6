#include "app/install.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_install_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::InstallOptions>();
  auto* cmd = root.add_subcommand(
      "install",
      "Create a venv and install exactly the pinned wheels (pip --require-hashes --no-deps)");
  cmd->add_option("--venv", opts->venv, "Virtual environment directory (created when absent)")
      ->required();
  cmd->add_option("--from", opts->from,
                  "Resolution from `resolve --out` or a lockfile (default sd35-resolve.json)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--python", opts->python,
                  "Interpreter that creates the venv (default: python3 on PATH)")
      ->check(interpreter_check());
  cmd->add_flag("--system-site-packages", opts->system_site_packages,
                "let a new venv see the interpreter's packages (a torch preinstalled system-wide)");
  cmd->add_option("--host", opts->host_file, "Host facts for the GPU checks instead of probing")
      ->check(CLI::ExistingFile);
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::install(global, *opts, r); };
  });
}

}  // namespace sd35::cli
