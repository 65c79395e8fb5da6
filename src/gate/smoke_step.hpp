// The gate's smoke step: the locked smoke run again, with the locked parameters, on the locked
// weights, in the locked environment, compared by environment and fingerprint. The run itself is
// the caller's runner (app wires `smoke` in process); this module decides what to run and judges
// the result.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::gate {

// Where the gate runs the smoke: the venv the gate is given, else the locked interpreter.
struct SmokeEnvironment {
  std::string venv;
  std::string host_file;  // GPU facts from a described host instead of the probe
};

// The locked prompt -> image run (lock.smoke.image.params), to make the same picture again: the
// whole batch, in order (one prompt for a single run); its first picture is the one compared.
struct ImageParams {
  std::vector<std::string> prompts, negatives;  // one negative per prompt ("" for none)
  std::int64_t seed = 0;
  std::string size;  // "HxW" pixels
};

// What the locked smoke ran, as the parameters of a new run.
struct SmokeParams {
  std::optional<int> steps;
  std::optional<std::pair<int, int>> latent;  // h, w
  std::optional<double> guidance, shift;
  std::string precision;     // the requested precision; "" = the manifest's
  bool synthetic = false;    // the embedded model
  std::string checkpoint;    // the locked weights (cache snapshot found again, or the locked path)
  std::string venv, python;  // the environment; both empty = built-in
  std::map<std::string, std::string> companions;  // name -> "==version" (or "" for any)
  std::string host_file;
  std::optional<ImageParams> image;  // set: run the locked prompt (then latent is unset)
};

struct SmokeOutcome {
  bool passed = false;      // the smoke ended ok (what its exit code 0 meant)
  nlohmann::json document;  // its result document (fingerprint, environment, error...)
};

using SmokeRunner = std::function<Result<SmokeOutcome>(const SmokeParams&)>;

// The parameters that repeat the locked smoke (`lock.smoke`) on this machine.
SmokeParams smoke_params(const nlohmann::json& locked, const std::filesystem::path& cache_dir,
                         const SmokeEnvironment& where);

// The fields of two environment records that must match for the gate to pass; empty = same.
std::vector<std::string> environment_differences(const nlohmann::json& locked,
                                                 const nlohmann::json& now);

// smoke:environment, smoke:fingerprint and, when the lock has an image, smoke:image findings.
// locked: the lock's smoke section (nullopt: the lock has none, a failure).
std::vector<Finding> check_smoke(const std::optional<nlohmann::json>& locked,
                                 const std::filesystem::path& cache_dir,
                                 const SmokeEnvironment& where, const SmokeRunner& run);

}  // namespace sd35::gate
