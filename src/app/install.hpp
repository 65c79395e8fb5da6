#pragma once

#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct InstallOptions {
  std::string venv;                        // created when absent
  std::string from = "sd35-resolve.json";  // resolution (`resolve --out`) or lockfile
  std::string python;     // interpreter that creates the venv; default python3 on PATH
  std::string host_file;  // GPU facts for the checks (default: probe)
  // The venv sees the interpreter's own packages too (a torch preinstalled in an NGC or Debian
  // image): pinned wheels still install on top, with their hashes.
  bool system_site_packages = false;
};

// Creates the venv, installs exactly the pinned wheels (pip --require-hashes --no-deps), then
// probes the venv's Python and runs the doctor's Python checks on it.
Result<Outcome> install(const GlobalOptions& global, const InstallOptions& options,
                        Reporter& reporter);

}  // namespace sd35::app
