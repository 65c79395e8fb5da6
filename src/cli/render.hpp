// Renderers: the three faces of the Reporter interface. TTY (colour, throttled bars, tables),
// plain lines when piped, JSON (result document on stdout, NDJSON events on stderr).
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

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

}  // namespace sd35::cli
