#pragma once

#include <memory>

#include "cli/render.hpp"

namespace sd35::cli {
std::unique_ptr<Reporter> make_json_renderer(const RenderOptions& options);
std::unique_ptr<Reporter> make_text_renderer(const RenderOptions& options);
}  // namespace sd35::cli
