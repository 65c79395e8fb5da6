// `sd35-setup smoke`: runs the embedded FP8 MMDiT (or a real checkpoint) and reports agreement,
// step time, peak memory and a fingerprint for the lockfile. Works without libtorch too: then
// it reports Errc::unavailable.
#pragma once

#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct SmokeOptions {
  std::string checkpoint;  // empty: embedded synthetic model
  std::string device = "auto";
  std::string precision;  // empty: manifest smoke.precision
  std::string latent;     // "HxW"; empty: manifest smoke.latent
  int steps = 0;          // 0: manifest
  double guidance = -1;   // < 0: manifest
  double shift = -1;      // < 0: manifest
  std::string inputs;     // fixture protocol (with dump)
  std::string dump;
  bool no_gemm_probe = false;
};

Result<Outcome> smoke(const GlobalOptions& global, const SmokeOptions& options, Reporter& reporter);

}  // namespace sd35::app
