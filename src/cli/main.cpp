// sd35-setup: parse the command line, pick a renderer, run one library call, map its result to
// an exit code (docs/cli.md). Everything else lives in sd35core.
#include <csignal>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "host/probe.hpp"
#include "util/cancel.hpp"

namespace {

extern "C" void on_signal(int sig) {
  sd35::request_cancel(sig);
}

void report_error(sd35::Reporter& reporter, const sd35::Error& e, int code) {
  reporter.event(sd35::Level::error, e.describe(),
                 {{"code", sd35::to_string(e.code)}, {"where", e.where}, {"hint", e.hint}});
  reporter.result("error", {{"ok", false},
                            {"exit_code", code},
                            {"error",
                             {{"code", sd35::to_string(e.code)},
                              {"message", e.message},
                              {"where", e.where},
                              {"hint", e.hint}}},
                            {"summary", nlohmann::json::array()}});
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sd35;
  CLI::App root{"sd35-setup: provision and prove a Stable Diffusion 3.5 FP8 environment"};
  root.set_version_flag("--version", std::string("sd35-setup ") + SD35_VERSION);
  root.require_subcommand(1);
  app::GlobalOptions global;
  bool quiet = false, no_color = false;
  int verbose = 0;
  root.add_option("--manifest", global.manifest_path,
                  "Manifest JSON (default: the embedded SD3.5 Large FP8 manifest)")
      ->check(CLI::ExistingFile);
  root.add_option(
      "--cache", global.cache_dir,
      "Hugging Face hub cache (default: HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub)");
  root.add_flag("--json", global.json,
                "Machine-readable output: result on stdout, events on stderr");
  root.add_flag("-q,--quiet", quiet, "Only warnings, errors and failed findings");
  root.add_flag("-v,--verbose", verbose, "More detail (repeat for debug)");
  root.add_flag("--no-color", no_color, "No ANSI colours (NO_COLOR is honoured too)");
  root.fallthrough();

#ifdef SD35_TORCH_VERSION
  set_embedded_torch_probe([] { return std::string(SD35_TORCH_VERSION); });
#endif

  cli::Runner chosen;
  cli::add_probe_command(root, global, chosen);
  cli::add_doctor_command(root, global, chosen);
  cli::add_fetch_command(root, global, chosen);
  cli::add_smoke_command(root, global, chosen);
  cli::add_resolve_command(root, global, chosen);
  cli::add_install_command(root, global, chosen);
  cli::add_lock_command(root, global, chosen);
  cli::add_verify_command(root, global, chosen);
  cli::add_up_command(root, global, chosen);
  cli::add_export_command(root, global, chosen);

  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = root.exit(e);
    return rc == 0 ? app::exit_code::ok : app::exit_code::usage;
  }
  global.verbosity = quiet ? -1 : verbose;

  auto reporter =
      cli::make_renderer(cli::choose_render_options(global.json, no_color, global.verbosity));
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  Result<app::Outcome> result = make_error(Errc::internal, "no command was run");
  try {
    if (chosen) result = chosen(*reporter);
  } catch (const std::exception& e) {
    result = make_error(Errc::internal, std::string("unexpected exception: ") + e.what(), {},
                        "this is a bug in sd35-setup; please report it with the command line");
  }
  if (!result && cancel_requested()) result = make_error(Errc::interrupted, "interrupted");
  int code = app::exit_code_for(result);
  if (!result) report_error(*reporter, result.error(), code);
  reporter->finish();
  return code;
}
