// The manifest: what model to fetch, which torch/CUDA sets are acceptable, what the host needs,
// and how to smoke-test it. Format: docs/manifest.md, schema: manifests/manifest.schema.json.
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "util/result.hpp"

namespace sd35 {

inline constexpr int kManifestSchemaVersion = 1;

struct ModelFile {
  std::string path;                   // repo-relative, '/'-separated
  std::optional<std::uint64_t> size;  // bytes; nullopt = take it from the LFS pointer
  std::optional<std::string> sha256;  // LFS oid, lowercase hex
};

// A file of another public repository that belongs to the model (the tokenizers of a single-file
// checkpoint): fetched into that repository's own cache folder at its own revision, pinned like
// a model file, and seen by the model's users at `as` (e.g. "tokenizer/vocab.json").
struct ExtraFile {
  std::string repo;      // "org/name" or a full http(s) URL
  std::string revision;  // branch, tag or 40-hex commit
  std::string path;      // in that repository
  std::string as;        // where it belongs in the model's layout (default: path)
  std::optional<std::uint64_t> size;
  std::optional<std::string> sha256;  // sha256 of the content (the LFS oid for LFS files)
  // Pinned: a commit revision and a sha256. verify reports every unpinned extra file (a manifest
  // may name a branch while no verified pin is at hand).
  [[nodiscard]] bool pinned() const;
};

struct ModelSpec {
  std::string repo;      // "org/name" or a full http(s) URL
  std::string revision;  // branch, tag or 40-hex commit
  bool gated = false;
  std::string format;        // "sai-single-file" | "diffusers"
  std::string architecture;  // "sd35-large" | "sd35-medium" | "sd3-medium"
  std::vector<ModelFile> files;
  std::vector<ExtraFile> extra_files;  // from other repositories (tokenizers)

  // Sum of the known file sizes (extra files included).
  [[nodiscard]] std::uint64_t known_bytes() const;
};

struct TorchCandidate {
  std::string torch;                       // exact version, e.g. "2.9.1"
  std::vector<std::string> cuda;           // variants in preference order: "cu128", ..., "cpu"
  std::optional<std::string> torchvision;  // exact version
  std::optional<std::string> xformers;     // exact version, nullopt = not installed
};

struct EnvironmentSpec {
  std::string python;  // PEP 440 specifier set, e.g. ">=3.10,<3.14"
  std::vector<TorchCandidate> candidates;
  std::vector<std::pair<std::string, std::string>> packages;  // name -> specifier, sorted by name
};

struct GpuRequirements {
  std::string fp8_compute_min_cc = "8.9";
  std::uint64_t min_memory_mib = 0;
};

struct Requirements {
  std::uint64_t disk_free_bytes = 0;
  GpuRequirements gpu;
};

struct SmokeSpec {
  std::array<int, 2> latent{64, 64};  // H, W in latent pixels
  int steps = 4;
  double guidance = 4.5;
  double shift = 3.0;
  std::string precision = "fp8";  // fp8 | fp8-weights | bf16 | fp32
};

struct Manifest {
  int schema_version = kManifestSchemaVersion;
  std::string name;
  std::string description;
  ModelSpec model;
  EnvironmentSpec environment;
  Requirements requirements;
  SmokeSpec smoke;

  std::string source;                 // file path, or "<embedded:sd35-large-fp8>"
  std::string digest;                 // sha256 of the exact bytes it was read from
  std::vector<std::string> warnings;  // unknown fields and the like
};

// Parses manifest text; `source` names it in every error ("file:line:col", "file: /json/pointer").
Result<Manifest> parse_manifest(std::string_view text, std::string_view source);
// Reads a manifest file. A missing or unreadable file is Errc::bad_input naming the path.
Result<Manifest> load_manifest(const std::string& path);
// The manifest compiled into the binary from manifests/sd35-large-fp8.json.
Result<Manifest> default_manifest();

// Everything the later stages need, as JSON (docs and `--json` output).
nlohmann::json to_json(const Manifest& m);

}  // namespace sd35
