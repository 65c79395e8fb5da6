// Each subcommand lives in its own cmd_<name>.cpp: it declares its options, fills an options
// struct and, when chosen, hands main() one call into the library. No logic here.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "app/context.hpp"

namespace sd35::cli {

using Runner = std::function<Result<app::Outcome>(Reporter&)>;

void add_probe_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_doctor_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_fetch_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_smoke_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_resolve_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_install_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_lock_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_verify_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_up_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
// `help [COMMAND]`: the help text on stdout, exit 0.
void add_help_command(CLI::App& root, Runner& chosen);

// --python: a path that exists, or a name found on PATH (docs/cli.md).
const CLI::Validator& interpreter_check();

// What argv says before CLI11 parses it, so that a usage error is rendered as asked (--json,
// --no-color, -q/-v) and an unknown command is named.
struct ArgvPreview {
  bool json = false;
  bool no_color = false;
  int verbosity = 0;    // -1 quiet
  std::string command;  // the first word that is not an option or a global option's value
};
ArgvPreview preview_argv(int argc, const char* const* argv);

// A usage error for a CLI11 parse error: unknown commands named with the list of commands, and
// a hint pointing at the right --help.
Error usage_error(const CLI::App& root, const CLI::ParseError& e, const ArgvPreview& preview);
void add_first_run_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);
void add_export_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);

}  // namespace sd35::cli
