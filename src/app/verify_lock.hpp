#pragma once

#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct VerifyLockOptions {
  std::string lock = "sd35.lock.json";
  std::string venv;    // check installed wheels (skipped when empty)
  bool smoke = false;  // run the locked smoke again (in process) and compare its fingerprint
  std::string junit;   // write JUnit XML here
  std::string host_file;
};

// The CI gate (gate::run_gate): this machine against a lockfile. ok (0); not_ready (3) when the
// host is incompatible (driver below the locked CUDA's floor, other GPU arch); verification_failed
// (4) when model files, wheels or the smoke fingerprint differ. A bad lockfile is a usage error
// (2). Without `smoke` it is the fast mode: host + packages + model by the stat cache, no libtorch.
Result<Outcome> verify_lock(const GlobalOptions& global, const VerifyLockOptions& options,
                            Reporter& reporter);

}  // namespace sd35::app
