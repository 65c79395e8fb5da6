// What the commands share: the `help` command, the --python check, and usage errors in the
// words of docs/cli.md (rendered like any other error, --json included).
#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

#include "cli/commands.hpp"
#include "util/process.hpp"

namespace sd35::cli {
namespace {

std::string command_list(const CLI::App& root) {
  std::string out;
  for (const CLI::App* sub : root.get_subcommands([](const CLI::App*) { return true; }))
    out += (out.empty() ? "" : ", ") + sub->get_name();
  return out;
}

bool is_command(const CLI::App& root, const std::string& name) {
  for (const CLI::App* sub : root.get_subcommands([](const CLI::App*) { return true; }))
    if (sub->get_name() == name) return true;
  return false;
}

}  // namespace

void add_help_command(CLI::App& root, Runner& chosen) {
  auto topic = std::make_shared<std::string>();
  auto* cmd = root.add_subcommand("help", "Print this help, or a command's (help COMMAND)");
  cmd->add_option("command", *topic, "The command to explain");
  cmd->callback([&root, &chosen, topic] {
    if (!topic->empty() && !is_command(root, *topic))
      throw CLI::ValidationError(fmt::format("unknown command '{}'", *topic));
    chosen = [&root, topic](Reporter&) -> Result<app::Outcome> {
      // App::help() of the root would explain the last parsed subcommand (this one).
      const CLI::App* about = topic->empty() ? &root : root.get_subcommand(*topic);
      std::fputs(root.get_formatter()->make_help(about, "", CLI::AppFormatMode::Normal).c_str(),
                 stdout);
      return app::Outcome::ok;
    };
  });
}

const CLI::Validator& interpreter_check() {
  static const CLI::Validator check(
      [](std::string& value) -> std::string {
        if (value.find('/') == std::string::npos)
          return proc::which(value) ? std::string()
                                    : fmt::format("no interpreter '{}' on PATH", value);
        std::error_code ec;
        if (!std::filesystem::is_regular_file(value, ec))
          return fmt::format("no such interpreter: {}", value);
        return {};
      },
      "PYTHON", "interpreter");
  return check;
}

ArgvPreview preview_argv(int argc, const char* const* argv) {
  ArgvPreview p;
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--") break;
    if (a == "--json") p.json = true;
    if (a == "--no-color") p.no_color = true;
    if (a == "-q" || a == "--quiet") quiet = true;
    if (a == "--verbose") ++p.verbosity;
    if (a.size() >= 2 && a[0] == '-' && a[1] == 'v' && a.find_first_not_of('v', 1) == a.npos)
      p.verbosity += static_cast<int>(a.size() - 1);
    if ((a == "--manifest" || a == "--cache") && p.command.empty()) {
      ++i;  // the global option's value
      continue;
    }
    if (p.command.empty() && !a.empty() && a[0] != '-') p.command = a;
  }
  if (quiet) p.verbosity = -1;
  return p;
}

Error usage_error(const CLI::App& root, const CLI::ParseError& e, const ArgvPreview& preview) {
  const std::string commands = command_list(root);
  if (preview.command.empty()) {
    std::string unknown;
    for (const auto& arg : root.remaining()) unknown += (unknown.empty() ? "" : " ") + arg;
    return make_error(Errc::usage,
                      unknown.empty() ? std::string("no command given")
                                      : fmt::format("unknown option {} and no command", unknown),
                      "sd35-setup",
                      fmt::format("choose one of: {}; `sd35-setup help` explains them", commands));
  }
  if (!is_command(root, preview.command))
    return make_error(
        Errc::usage, fmt::format("unknown command '{}'", preview.command), "sd35-setup",
        fmt::format("the commands are: {}; `sd35-setup help` explains them", commands));
  return make_error(Errc::usage, e.what(), "sd35-setup " + preview.command,
                    fmt::format("`sd35-setup {} --help` lists its options", preview.command));
}

}  // namespace sd35::cli
