#pragma once

#include <string>

#include "app/context.hpp"

namespace sd35::app {

struct VerifyLockOptions {
  std::string lock = "sd35.lock.json";
  std::string venv;    // check installed wheels (skipped when empty)
  bool smoke = false;  // re-run `sd35-setup smoke --json` and compare the fingerprint
  std::string junit;   // write JUnit XML here
  std::string host_file;
};

// The CI gate: this machine against a lockfile. ok (0); not_ready (3) when the host is
// incompatible (driver below the locked CUDA's floor, other GPU arch); verification_failed (4)
// when model files, wheels or the smoke fingerprint differ. A bad lockfile is a usage error (2).
Result<Outcome> verify_lock(const GlobalOptions& global, const VerifyLockOptions& options,
                            Reporter& reporter);

// JUnit XML for a list of findings (one testcase each, classname = the part of the id before ':').
std::string junit_xml(const std::string& suite, const std::vector<Finding>& findings,
                      double seconds);

}  // namespace sd35::app
