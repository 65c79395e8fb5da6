#include "app/fetch.hpp"
#include "cli/commands.hpp"

namespace sd35::cli {

void add_fetch_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen) {
  auto opts = std::make_shared<app::FetchOptions>();
  auto auth = std::make_shared<std::string>("basic");
  auto* cmd = root.add_subcommand(
      "fetch", "Download the model's files at the pinned revision into the Hugging Face cache");
  cmd->add_option("--repo", opts->repo,
                  "org/name (against HF_ENDPOINT) or a full http(s) URL (default: the manifest's)");
  cmd->add_option("--revision", opts->revision,
                  "Branch, tag or 40-hex commit (default: the manifest's)");
  cmd->add_option("--include", opts->include,
                  "Only paths matching this glob (repeatable; ** spans directories)");
  cmd->add_option("--jobs", opts->jobs, "Parallel connections")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--auth", *auth, "How the token is sent: basic (token as password) or bearer")
      ->check(CLI::IsMember({"basic", "bearer"}))
      ->capture_default_str();
  cmd->add_option("--stall-timeout", opts->stall_timeout_s,
                  "Reconnect after this many seconds without data")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  cmd->add_option("--ca-file", opts->ca_file,
                  "PEM file of CA certificates for TLS, for git and LFS alike (wins over "
                  "REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, GIT_SSL_CAINFO, SSL_CERT_FILE)");
  cmd->callback([&chosen, &global, opts, auth] {
    opts->bearer = *auth == "bearer";
    chosen = [&global, opts](Reporter& r) { return app::fetch(global, *opts, r); };
  });
}

}  // namespace sd35::cli
