#include "app/up.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_up_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::UpOptions>();
  auto* cmd = root.add_subcommand(
      "up",
      "probe -> resolve -> fetch -> verify -> (install) -> smoke -> lock, skipping proven work");
  cmd->add_option("--dir", opts->dir,
                  "Where the resolution, smoke result and lockfile are written");
  cmd->add_option("--venv", opts->venv, "Install the resolved wheels into this venv");
  cmd->add_option("--index", opts->indexes, "Package index for exact wheel pins (repeatable)");
  cmd->add_option("--host", opts->host_file, "Host facts instead of probing")
      ->check(CLI::ExistingFile);
  cmd->add_option("--jobs", opts->jobs, "Parallel fetch connections")->check(CLI::Range(1, 64));
  cmd->add_flag("--full", opts->full_verify, "Rehash every file even when unchanged");
  cmd->add_option("--python", opts->python, "Interpreter that creates the venv")
      ->check(interpreter_check());
  cmd->add_flag("--system-site-packages", opts->system_site_packages,
                "Let a new venv see the interpreter's packages (a preinstalled torch)");
  cmd->add_flag("--skip-fetch", opts->skip_fetch, "Do not download; verify what the cache holds");
  cmd->add_option("--prompt", opts->prompt,
                  "Prompt of the first image (default: a fixed prompt; required to succeed when "
                  "given)");
  cmd->add_option("--image", opts->image,
                  "Where the first image goes (default: "
                  "<dir>/sd35-first-image.png)");
  cmd->add_flag("--no-image", opts->no_image, "Make no first image (MMDiT-only smoke)");
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::up(global, *opts, r); };
  });
}

}  // namespace sd35::cli
