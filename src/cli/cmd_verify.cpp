#include "app/export.hpp"
#include "app/verify.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_verify_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::VerifyOptions>();
  auto prometheus = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("verify",
                                  "Verify the model files (content, safetensors structure, model "
                                  "audit, cache); exit 4 on a failure");
  cmd->add_option("--path", opts->path,
                  "Verify this directory instead of the manifest's snapshot in the cache");
  cmd->add_flag("--full", opts->full,
                "Rehash every file, even those unchanged since the last verification");
  auto* lock = cmd->add_option("--lock", opts->lock_file,
                               "Verify against a lockfile's recorded files (sd35-setup lock)")
                   ->check(CLI::ExistingFile);
  // The gate's options mean nothing without a lockfile: an error, not silently ignored.
  cmd->add_option("--venv", opts->lock_venv,
                  "With --lock: also check the wheels installed in this venv")
      ->check(CLI::ExistingDirectory)
      ->needs(lock);
  cmd->add_flag("--smoke", opts->lock_smoke,
                "With --lock: re-run the smoke test and compare its fingerprint")
      ->needs(lock);
  cmd->add_option("--junit", opts->junit, "With --lock: write JUnit XML here")->needs(lock);
  cmd->add_option("--host", opts->host_file, "With --lock: host facts instead of probing")
      ->check(CLI::ExistingFile)
      ->needs(lock);
  cmd->add_option("--prometheus", *prometheus,
                  "With --lock: write the result as a node-exporter textfile here")
      ->needs(lock);
  cmd->add_option("--threads", opts->threads, "Hashing threads (default: one per core)")
      ->check(CLI::Range(0u, 1024u));
  cmd->callback([&chosen, &global, opts, prometheus] {
    chosen = [&global, opts, prometheus](Reporter& r) {
      return prometheus->empty() ? app::verify(global, *opts, r)
                                 : app::verify_with_prometheus(global, *opts, *prometheus, r);
    };
  });
}

}  // namespace sd35::cli
