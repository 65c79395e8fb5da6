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
void add_export_command(CLI::App& root, const app::GlobalOptions& global, Runner& chosen);

}  // namespace sd35::cli
