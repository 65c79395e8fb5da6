// Compatibility facts (driver floors per CUDA major, FP8 thresholds, torch release matrix) read
// from the versioned data file src/compat/compat-data.json compiled into the binary.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sd35::compat {

struct DriverFloor {
  int cuda_major = 0;
  std::string linux_min_driver;  // "525.60.13"
  std::string source;
};

struct Fp8Facts {
  std::string min_compute_capability = "8.9";
  std::string float8_dtypes_from_torch = "2.1";
  std::string scaled_mm_stable_from_torch = "2.5";
};

struct CompatData {
  int schema_version = 1;
  std::vector<DriverFloor> driver_floors;  // newest CUDA major first
  Fp8Facts fp8;
  nlohmann::json raw;  // the whole document, for sections read by later modules
};

// Parsed once; the embedded file is validated by the unit tests, so a failure here is a bug.
const CompatData& data();

// CUDA major of a wheel variant: "cu128" -> 12, "cu130" -> 13, "cpu" -> nullopt.
std::optional<int> cuda_major_of_variant(std::string_view variant);
// Linux driver floor for a variant under minor-version compatibility; nullopt for cpu/unknown.
const DriverFloor* driver_floor_for_variant(std::string_view variant);

}  // namespace sd35::compat
