// One run of the prompt pipeline (src/smoke/pipeline.cpp) and what is reported of it: the
// per-stage statistics, the named checks, the dump, the summary lines and, for smoke --repeat,
// each run's figures. TORCH HEADER: include only from src/smoke/*.cpp.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "smoke/pipeline_encode.hpp"
#include "smoke/smoke.hpp"

namespace sd35::smoke {

// Everything the run produced, for the dump, the checks and the result document.
struct Run {
  Encoded cond, uncond;
  at::Tensor noise, context, pooled;  // the denoising loop's inputs, kept for the bf16 reference
  at::Tensor latents, image, latents_bf16, image_bf16;
  nlohmann::json t5_check, timings = nlohmann::json::object(), memory;
  std::string mmdit_path, fp8_spelling, denoise_mode, attention;
  bool tiled = false;
  bool native_fp8 = false, fused = false;  // what the MMDiT ran with (the lock records them)
  bool proofs_after_image = false;         // the picture went out before the checks ran
  bool proofs = true;                      // this run checks (of --repeat, the last)
  std::string encode_mode = "eager", decode_mode = "eager";  // a kept graph's replay, or eager
};

// A tensor as float32 on the host.
Tensor32 to32(const at::Tensor& t);
// |a - b| / |b| in float64.
double rel_l2_of(const at::Tensor& a, const at::Tensor& b);

// One run's figures for the result's "runs" (smoke --repeat); `index` counts from 0.
nlohmann::json run_figures(const Run& run, int index);
// Per-stage {"mean", "std", "min", "max", "finite"}.
nlohmann::json stage_stats(const Run& run);
// Named findings: each stage finite, the T5's FP8 scales, a picture that is not one flat colour,
// and the FP8 picture close to the bf16 one from the same weights.
nlohmann::json pipeline_checks(const Run& run, const nlohmann::json& stats);
// The fixture protocol's dump: F32 tensors and I64 token ids under the reference's names.
Status write_dump(const std::string& file, const Run& run, const TextToImage& text);
// The result's summary lines (the verdict, the stages' times, the memory plan, failed checks).
std::vector<std::string> summary_lines(const nlohmann::json& doc, const Run& run, bool ok);

}  // namespace sd35::smoke
