// sd35-setup: parse the command line, pick a renderer, run one library call, map its result to
// an exit code (docs/cli.md). Everything else lives in sd35core.
#include <fmt/format.h>

#include <csignal>
#include <cstdlib>

#include "cli/commands.hpp"
#include "cli/render.hpp"
#include "host/probe.hpp"
#include "util/cancel.hpp"

namespace {

extern "C" void on_signal(int sig) {
  sd35::request_cancel(sig);
}

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : std::string(fallback);
}

// -v: what the command is about to use; -vv adds the fields (the renderers print them).
void report_context(sd35::Reporter& reporter, const sd35::app::GlobalOptions& global,
                    const std::string& command) {
  const std::string manifest = global.manifest_path.empty() ? "embedded" : global.manifest_path;
  const std::string cache = sd35::app::resolve_cache_dir(global).string();
  reporter.event(sd35::Level::debug,
                 fmt::format("sd35-setup {} {}: manifest {}, cache {}", SD35_VERSION, command,
                             manifest, cache),
                 {{"manifest", manifest},
                  {"cache", cache},
                  {"HF_ENDPOINT", env_or("HF_ENDPOINT", "https://huggingface.co")},
                  {"HF_HUB_OFFLINE", env_or("HF_HUB_OFFLINE", "")},
                  {"temp", sd35::app::temp_dir().string()}});
}

// Runs the chosen command; a stray exception is a bug (exit 1), a cancelled run exit 130.
sd35::Result<sd35::app::Outcome> run_command(const sd35::cli::Runner& chosen,
                                             sd35::Reporter& reporter) {
  using namespace sd35;
  Result<app::Outcome> result = make_error(Errc::internal, "no command was run");
  try {
    if (chosen) result = chosen(reporter);
  } catch (const std::exception& e) {
    result = make_error(Errc::internal, std::string("unexpected exception: ") + e.what(), {},
                        "this is a bug in sd35-setup; please report it with the command line");
  }
  if (!result && cancel_requested())
    result = make_error(Errc::interrupted, "interrupted", {},
                        "run the same command again: resumable state was kept");
  return result;
}

// A run that ended without an error but did not pass still ends with what to do.
void report_outcome(sd35::Reporter& reporter, sd35::app::Outcome outcome) {
  using sd35::app::Outcome;
  if (outcome == Outcome::not_ready)
    reporter.event(sd35::Level::warn,
                   "not ready (exit 3)\n  hint: each failed required check above names what to "
                   "fix; run the same command again once it is done");
  if (outcome == Outcome::verification_failed)
    reporter.event(sd35::Level::warn,
                   "verification failed (exit 4)\n  hint: the lines above say what differs (the "
                   "file, check or tensor) and what to do");
}

// The one exit: the error (if any) and exactly one result document, then the exit code.
int conclude(sd35::Reporter& renderer, sd35::cli::OneResult& one,
             const sd35::Result<sd35::app::Outcome>& result) {
  const int code = sd35::app::exit_code_for(result);
  one.debug(fmt::format("exit code {}", code));
  one.conclude(result ? nullptr : &result.error(), code);
  renderer.finish();
  if (result) report_outcome(renderer, *result);  // last: below the tables and summaries
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace sd35;
  CLI::App root{"sd35-setup: provision and prove a Stable Diffusion 3.5 FP8 environment"};
  root.set_version_flag("-V,--version", std::string("sd35-setup ") + SD35_VERSION);
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
  cli::add_help_command(root, chosen);
  cli::add_first_run_command(root, global, chosen);
  cli::add_export_command(root, global, chosen);

  const cli::ArgvPreview preview = cli::preview_argv(argc, argv);
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return root.exit(e);  // --help, --version
    auto renderer = cli::make_renderer(
        cli::choose_render_options(preview.json, preview.no_color, preview.verbosity));
    cli::OneResult one(*renderer);
    return conclude(*renderer, one, cli::usage_error(root, e, preview));
  }
  global.verbosity = quiet ? -1 : verbose;

  auto renderer =
      cli::make_renderer(cli::choose_render_options(global.json, no_color, global.verbosity));
  cli::OneResult one(*renderer);
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  report_context(one, global, preview.command);
  return conclude(*renderer, one, run_command(chosen, one));
}
