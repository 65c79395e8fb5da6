// A resolution (`resolve --out FILE`) as `lock --from` reads it, and whether it is for this lock:
// made for the same manifest, and fitting the host the lock is made on.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "host/host_facts.hpp"
#include "manifest/manifest.hpp"
#include "resolve/resolve.hpp"
#include "util/result.hpp"

namespace sd35::lock {

struct FromResolution {
  std::string path;
  std::string torch, cuda, index_url, python;
  std::vector<resolve::Package> packages;  // every one pinned with a sha256
  nlohmann::json manifest;  // {"name", "digest"} the resolution was made for (null: not recorded)
  nlohmann::json host;      // the host facts it was made for (null: not recorded)
};

// bad_input when the file is not a resolution with a selection or a wheel is not pinned.
Result<FromResolution> read_resolution(const std::string& path);

// The manifest the resolution recorded must be `manifest` (name and digest): else bad_input
// (exit 2) naming both. A resolution that records none (hand-written) passes.
Status resolution_fits_manifest(const FromResolution& r, const Manifest& manifest);

// The host must run what was resolved: the driver meets the floor of the resolved CUDA build
// (compat::driver_runs_variant), the GPUs' compute capabilities are the recorded host's (when
// recorded), and the Python that gets the wheels (the venv's when given, else the host's) has
// the resolved minor version. Else host_not_ready (exit 3) naming the resolution.
Status resolution_fits_host(const FromResolution& r, const HostFacts& host,
                            const std::string& venv);

}  // namespace sd35::lock
