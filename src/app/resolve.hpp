#pragma once

#include <string>
#include <vector>

#include "app/context.hpp"

namespace sd35::app {

struct ResolveOptions {
  std::string host_file;             // plan for another machine
  std::vector<std::string> pythons;  // extra interpreters to probe
  std::vector<std::string> indexes;  // simple-API roots; "{variant}" is replaced; empty = offline
  bool closure = false;              // ask pip's resolver for the full dependency closure
  std::string out;                   // write the resolution here (install reads it)
};

// Picks torch + CUDA variant for the host; not_ready (3) when nothing fits.
Result<Outcome> resolve(const GlobalOptions& global, const ResolveOptions& options,
                        Reporter& reporter);

}  // namespace sd35::app
