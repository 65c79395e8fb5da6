// Renderers: the three faces of the Reporter interface. TTY (colour, throttled bars, tables),
// plain lines when piped, JSON (result document on stdout, NDJSON events on stderr).
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "util/error.hpp"
#include "util/reporter.hpp"

namespace sd35::cli {

enum class RenderMode { tty, plain, json };

using RenderClock = std::chrono::steady_clock;

struct RenderOptions {
  RenderMode mode = RenderMode::plain;
  bool color = false;
  int verbosity = 0;  // -1 quiet: warnings and errors only
  std::FILE* out = stdout;
  std::FILE* err = stderr;
  // What the progress throttles read (TTY redraws, plain and JSON lines): the steady clock;
  // tests pass a fake one to step time.
  std::function<RenderClock::time_point()> now = [] { return RenderClock::now(); };
};

// --json wins; otherwise TTY when stderr is a terminal. Colour needs a TTY, no --no-color and no
// NO_COLOR.
RenderOptions choose_render_options(bool json, bool no_color_flag, int verbosity);

std::unique_ptr<Reporter> make_renderer(const RenderOptions& options);

// docs/cli.md#exit-codes: {"ok": false, "exit_code": N, "error": {code, message, where, hint}},
// merged into `document` (the command's own, e.g. up's stages) when the command wrote one.
nlohmann::json error_document(const Error& error, int exit_code,
                              nlohmann::json document = nlohmann::json::object());

// Holds the command's result document until the exit code is known, so that stdout gets exactly
// one document: the command's own, or on an error that one with the error merged in.
class OneResult final : public ForwardingReporter {
 public:
  using ForwardingReporter::ForwardingReporter;
  void result(std::string_view kind, const nlohmann::json& document) override;
  // Reports `error` (when there is one: an error event with its hint) and sends the document on;
  // a document of a run that did not pass (exit 3, 4) gets "ok": false and its "exit_code".
  void conclude(const Error* error, int exit_code);

 private:
  std::string kind_ = "error";
  std::optional<nlohmann::json> document_;
};

}  // namespace sd35::cli
