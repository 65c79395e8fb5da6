// Model audit from safetensors headers: the layout, family and dimensions the model module infers
// (model/layout.hpp, model/architecture.hpp) against the manifest and config.json, parameters per
// dtype, FP8 scale sanity (scale VALUES are read with pread: a few bytes each), and bundled text
// encoders / VAE. Every problem is a finding, never an exception.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "safetensors/safetensors.hpp"
#include "util/reporter.hpp"

namespace sd35::verify {

struct ModelPart {
  std::string rel;           // path relative to the root
  const st::Header* header;  // valid header of that file
};

struct AuditExpectations {
  std::string architecture;  // manifest: "sd35-large" | "sd35-medium" | "sd3-medium" ("" = any)
  std::string format;        // manifest: "sai-single-file" | "diffusers" ("" = any)
};

struct ModelAudit {
  std::string unit;         // file, or the index / folder that groups the shards
  std::string layout;       // "sai-single-file" | "diffusers"
  std::string family;       // "sd35-large" | "sd35-medium" | "sd3-medium"
  nlohmann::json document;  // dims, dtype census, fp8, components
  std::size_t failed = 0;
};

// Audits one model made of `parts` (one file, or the shards of one index); reports findings.
ModelAudit audit_model(const std::filesystem::path& root, const std::string& unit,
                       const std::vector<ModelPart>& parts, const AuditExpectations& expect,
                       Reporter& reporter);

// Decodes the little-endian elements of a float tensor (F32, F16, BF16, F64) to double.
std::optional<std::vector<double>> decode_floats(st::Dtype dtype, std::string_view bytes);

}  // namespace sd35::verify
