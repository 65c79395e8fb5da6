// What `smoke` asks of the plugin, in a torch-free form both sides share: the host (sd35core)
// builds a SmokeRequest, the plugin (built against whichever libtorch the environment has) runs it.
// Across the plugin boundary the request travels as JSON (smoke_api/plugin_abi.h), so a plugin
// built with another C++ ABI or compiler still reads it.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace sd35::smoke {

// fp32: float32 reference. bf16: bfloat16 weights and activations. fp8_weights: FP8 storage,
// dequantised per layer on the fly (bf16 compute on CUDA, fp32 on CPU). fp8: at::_scaled_mm with
// E4M3 activations (libtorch >= 2.5, CUDA cc >= 8.9), else the fp8_weights path with the reason.
enum class Precision { fp32, bf16, fp8_weights, fp8 };
std::optional<Precision> parse_precision(std::string_view text);
std::string_view to_string(Precision p) noexcept;

struct SamplingSpec {
  int steps = 4;
  double guidance = 4.5;
  double shift = 3.0;
};

struct SmokeRequest {
  std::string checkpoint;  // empty: embedded synthetic model
  std::string device = "auto";
  Precision precision = Precision::fp8;
  int latent_h = 64;
  int latent_w = 64;
  SamplingSpec sampling;
  std::string inputs;  // fixture inputs (with dump)
  std::string dump;    // write forward + sample here (F32 safetensors)
  bool gemm_probe = true;
};

nlohmann::json to_json(const SmokeRequest& request);
Result<SmokeRequest> request_from_json(const nlohmann::json& doc);

}  // namespace sd35::smoke
