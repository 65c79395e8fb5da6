#pragma once

#include <string>
#include <vector>

#include "app/context.hpp"

namespace sd35::app {

struct DoctorOptions {
  std::string host_file;             // plan for another machine
  std::vector<std::string> pythons;  // extra interpreters to probe
};

// Runs every named check for the manifest against the host; not ready when a required check fails.
Result<Outcome> doctor(const GlobalOptions& global, const DoctorOptions& options,
                       Reporter& reporter);

}  // namespace sd35::app
