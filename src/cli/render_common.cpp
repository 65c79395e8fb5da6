#include <unistd.h>

#include <cstdlib>

#include "cli/render.hpp"
#include "cli/render_impl.hpp"

namespace sd35::cli {

RenderOptions choose_render_options(bool json, bool no_color_flag, int verbosity) {
  RenderOptions o;
  o.verbosity = verbosity;
  const bool tty = ::isatty(STDERR_FILENO) != 0;
  const char* no_color_env = std::getenv("NO_COLOR");  // https://no-color.org: any non-empty value
  o.mode = json ? RenderMode::json : (tty ? RenderMode::tty : RenderMode::plain);
  o.color = o.mode == RenderMode::tty && !no_color_flag && !(no_color_env && *no_color_env);
  return o;
}

std::unique_ptr<Reporter> make_renderer(const RenderOptions& options) {
  switch (options.mode) {
    case RenderMode::json:
      return make_json_renderer(options);
    case RenderMode::tty:
    case RenderMode::plain:
      return make_text_renderer(options);
  }
  return make_text_renderer(options);
}

}  // namespace sd35::cli
