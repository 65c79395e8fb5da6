// What `smoke` asks of the plugin, in a torch-free form both sides share: the host (sd35core)
// builds a SmokeRequest, the plugin (built against whichever libtorch the environment has) runs it.
// Across the plugin boundary the request travels as JSON (smoke_api/plugin_abi.h), so a plugin
// built with another C++ ABI or compiler still reads it.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // Rows of (timestep, pooled text) whose adaLN modulation one call computes before the
  // denoising loop (0: 64, every step of a one-prompt 28-step run at once); fewer trade speed
  // for memory (SD3.5 Large: 2.2 MB a row).
  int modulation_rows = 0;
};

// Token ids of a batch of prompts, one row per prompt: CLIP-L and CLIP-G [77], T5-XXL [256].
struct TokenIds {
  std::vector<std::vector<std::int64_t>> clip_l;
  std::vector<std::vector<std::int64_t>> clip_g;
  std::vector<std::vector<std::int64_t>> t5xxl;
};

// Prompt -> image. The host tokenizes (the tokenizers live in sd35core, torch-free); the plugin
// runs the text encoders, the MMDiT and the VAE and writes image 0's 8-bit RGB pixels (row-major,
// H*W*3 bytes) to `pixels_out`; the host turns them into the PNG. The plugin's result then carries
// "image": {"height", "width", "pixels"} (pixels = pixels_out) next to its own figures.
struct TextToImage {
  std::vector<std::string> prompts;
  std::vector<std::string> negatives;  // one per prompt ("" = empty negative)
  TokenIds prompt_ids;
  TokenIds negative_ids;
  std::int64_t seed = 0;   // the starting noise, unless `inputs` holds latents_in
  std::string pixels_out;  // where the plugin writes image 0's pixels
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
  std::optional<TextToImage> text;  // set: run the whole pipeline from prompts to pixels
  // Prompt -> pixels this many times in one call, keeping what the memory plan lets stay loaded
  // (the weights and the captured denoising step), each run's pixels published; the checks run
  // once, after the last. The result's "runs" holds each run's figures.
  int repeat = 1;
};

nlohmann::json to_json(const SmokeRequest& request);
Result<SmokeRequest> request_from_json(const nlohmann::json& doc);

}  // namespace sd35::smoke
