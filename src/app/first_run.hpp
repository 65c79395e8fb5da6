// README's command 1 ends here: one screen that says what this machine can and cannot do for
// SD3.5 FP8 and the exact next command. Unlike `doctor` (exit 3 when the host is not ready, for
// CI), it exits 0 whenever the tool itself works: a laptop without a GPU is a healthy machine
// that plans for a GPU box, not a failed install.
#pragma once

#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct FirstRunOptions {
  std::string host_file;  // describe another machine (probe --out FILE) instead of this one
};

Result<Outcome> first_run(const GlobalOptions& global, const FirstRunOptions& options,
                          Reporter& reporter);

}  // namespace sd35::app
