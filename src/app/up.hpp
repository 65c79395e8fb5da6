#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/context.hpp"

namespace sd35::app {

// The first image `up` makes when the weights and tokenizers allow it (docs/cli.md#up): this
// prompt and seed, at the manifest's smoke latent and steps, written as kFirstImage in --dir.
inline constexpr const char* kFirstImagePrompt =
    "a red fox sitting in fresh snow at sunrise, detailed fur, photograph";
inline constexpr std::int64_t kFirstImageSeed = 42;
inline constexpr const char* kFirstImage = "sd35-first-image.png";

struct UpOptions {
  std::string dir = ".";  // where sd35-resolve.json, sd35-smoke.json and sd35.lock.json go
  std::string venv;       // install into this venv (skipped when empty)
  std::vector<std::string> indexes;   // package indexes for resolve (pins wheels + sha256)
  std::string host_file;              // plan for facts in FILE instead of probing
  int jobs = 8;                       // fetch connections
  bool full_verify = false;           // rehash even when the verify state says unchanged
  bool skip_fetch = false;            // use what is in the cache (verify still checks it)
  std::string python;                 // interpreter that creates the venv (install --python)
  bool system_site_packages = false;  // install --system-site-packages
  // The first image: --prompt makes it required (no image is then a failure of `up`), --image
  // puts it elsewhere than <dir>/sd35-first-image.png, --no-image skips it.
  std::string prompt;
  std::string image;
  bool no_image = false;
};

// doctor -> resolve -> fetch -> verify -> (install) -> smoke -> lock, stopping at the first stage
// that fails (doctor: at the first required check that fails, with its fix). The smoke proves the
// venv `install` made (else the built-in libtorch), and `up` says "proven" only when it ran on the
// GPU the host has, or the host has none and the manifest allows CPU; each stage skips work its own
// state proves done (cached blobs, the verify state file, an installed venv). The result lists
// every stage with its outcome and seconds.
Result<Outcome> up(const GlobalOptions& global, const UpOptions& options, Reporter& reporter);

}  // namespace sd35::app
