// Compatibility facts (driver floors per CUDA major, FP8 thresholds, torch release matrix) read
// from the versioned data file src/compat/compat-data.json compiled into the binary.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

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

// One CUDA variant of a torch release as published on download.pytorch.org/whl/<variant>.
struct TorchVariant {
  std::string variant;                 // "cu128", "cpu"
  std::vector<std::string> arch_list;  // "sm_90", "compute_120"
  std::string arch_source;
  std::optional<bool> cxx11_abi;  // set when it differs from the release's
};

// One torch minor release ("2.9" matches 2.9.0, 2.9.1, ...).
struct TorchRelease {
  std::string torch;                   // "2.9"
  std::string python;                  // PEP 440 specifier set of the published wheels
  std::vector<TorchVariant> variants;  // CUDA variants; "cpu" always exists and is not listed
  std::string torchvision;             // minor series, "0.24"
  std::string torchaudio;              // "2.9"
  std::optional<bool> cxx11_abi;       // nullopt: per variant
  std::string manylinux_glibc;         // glibc the Linux wheels need ("2.28", "2.17")
  std::string pypi_default;            // CUDA variant of the PyPI wheel
  std::vector<std::string> notes;
  std::string source;

  [[nodiscard]] const TorchVariant* find_variant(std::string_view variant) const;
};

// Which torch an xformers release was built for (its wheel's Requires-Dist).
struct XformersPin {
  std::string xformers;               // "0.0.33.post2"
  std::string torch;                  // PEP 440 specifier: "==2.9.1" (exact pin) or ">=2.10"
  std::vector<std::string> variants;  // CUDA variants with wheels on the PyTorch index
  std::string source;
};

struct IndexFacts {
  std::string pytorch_url = "https://download.pytorch.org/whl/{variant}";
  std::string pypi_url = "https://pypi.org/simple";
  std::vector<std::string> pytorch_projects;  // names served from the PyTorch index
};

struct CompatData {
  int schema_version = 1;
  std::vector<DriverFloor> driver_floors;  // newest CUDA major first
  Fp8Facts fp8;
  std::vector<TorchRelease> torch_releases;
  std::vector<XformersPin> xformers_pins;
  IndexFacts index;
  nlohmann::json raw;  // the whole document, for sections read by later modules
};

// Parsed once; the embedded file is validated by the unit tests, so a failure here is a bug.
const CompatData& data();

// CUDA major of a wheel variant: "cu128" -> 12, "cu130" -> 13, "cpu" -> nullopt.
std::optional<int> cuda_major_of_variant(std::string_view variant);
// Linux driver floor for a variant under minor-version compatibility; nullopt for cpu/unknown.
const DriverFloor* driver_floor_for_variant(std::string_view variant);

// The release row for a torch version ("2.9.1+cu128" -> row "2.9"); nullptr when unknown.
const TorchRelease* find_torch_release(std::string_view torch_version);
// The pin row of an exact xformers version; nullptr when unknown.
const XformersPin* find_xformers_pin(std::string_view xformers_version);
// "https://download.pytorch.org/whl/cu128" for a variant.
std::string pytorch_index_url(std::string_view variant);
// Is this project served from the PyTorch index (torch, torchvision, xformers, ...)?
bool is_pytorch_project(std::string_view name);

}  // namespace sd35::compat
