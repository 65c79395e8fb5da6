#include "app/doctor.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_doctor_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::DoctorOptions>();
  auto* cmd = root.add_subcommand(
      "doctor", "Check this host (or --host FILE) against the manifest; exit 3 when not ready");
  cmd->add_option("--host", opts->host_file,
                  "Host facts from `sd35-setup probe --out FILE` instead of probing")
      ->check(CLI::ExistingFile);
  cmd->add_option("--python", opts->pythons, "Also probe this interpreter (repeatable)")
      ->check(interpreter_check());
  cmd->callback([&chosen, &global, opts] {
    chosen = [&global, opts](Reporter& r) { return app::doctor(global, *opts, r); };
  });
}

}  // namespace sd35::cli
