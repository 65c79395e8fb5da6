// `sd35-setup smoke`: the embedded SD3/SD3.5 MMDiT on libtorch. Torch-free header: sd35core,
// the CLI, the tests and the benchmarks call through it without seeing torch headers.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smoke/mmdit_config.hpp"
#include "smoke_api/request.hpp"
#include "util/reporter.hpp"
#include "util/result.hpp"

namespace sd35::smoke {

// Inputs of one sampling run (fixture protocol of tests/data/sd3-reference/README.md).
struct Tensor32 {
  std::vector<std::int64_t> shape;
  std::vector<float> data;
};

struct TensorI64 {
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> data;
};

// FlowMatchEulerDiscreteScheduler(shift).set_timesteps(steps): sigmas has steps+1 entries (last 0).
void flow_match_schedule(int steps, double shift, std::vector<float>& timesteps,
                         std::vector<float>& sigmas);

struct LoadedCheckpointInfo {
  std::string layout;        // "diffusers", "diffusers-sharded", "sai", "sai-scaled-fp8"
  std::string fp8_spelling;  // "", "scale_weight+scaled_fp8", "weight_scale+comfy_quant",
                             // "weight_scale+_quantization_metadata", "weight_scale"
  MmditConfig config;
  int fp8_tensors = 0;
  std::uint64_t weight_bytes = 0;  // bytes held by the loaded MMDiT weights
  std::string config_source;       // "config.json" or "inferred"
};

// Loads (validates) a checkpoint on the CPU in its stored precision and describes it.
Result<LoadedCheckpointInfo> inspect_checkpoint(const std::string& path);

struct FixtureRun {
  Tensor32 forward;  // transformer(latents, context, pooled, timestep)
  Tensor32 sample;   // CFG flow-matching Euler loop from `noise`
  std::vector<float> timesteps, sigmas;
  LoadedCheckpointInfo checkpoint;
  std::string path_taken;  // what actually ran (e.g. "fp8-weights (fp32 compute on cpu)")
};

// Runs the fixture protocol with the weights at `checkpoint` and tensors from `inputs`
// (safetensors).
Result<FixtureRun> run_fixture(const std::string& checkpoint, const std::string& inputs,
                               Precision precision, const std::string& device,
                               const SamplingSpec& sampling);

// Reads F32 tensors from a safetensors file (fixtures, dumps).
Result<Tensor32> read_f32_tensor(const std::string& file, const std::string& name);
// Reads I64 tensors (token ids in a pipeline dump).
Result<TensorI64> read_i64_tensor(const std::string& file, const std::string& name);
// Relative L2 error |a-b| / |b|.
double rel_l2(const std::vector<float>& a, const std::vector<float>& b);

struct CodecTorchAgreement {
  bool native_float8 = false;
  std::string device;
  int checked = 0;
  int mismatches = 0;
  std::string first_mismatch;
};
// Compares the torch-free codec with torch's own float8 conversions (all 256 codes, every rounding
// boundary, out-of-range values). unavailable when libtorch has no float8 or the device is missing.
Result<CodecTorchAgreement> compare_codec_with_torch(const std::string& device);

// Checks each fused CUDA kernel of the native FP8 path against the same maths in ATen on seeded
// random inputs (both vectorised and scalar code paths): "kernels": [{name, error, limit, ok}],
// "ok". unavailable where the kernels are not built or there is no CUDA device.
Result<nlohmann::json> check_fused_kernels();

// {"name", "cc": [major, minor], "total_memory"} of the current CUDA device; {} without one.
nlohmann::json cuda_device_facts();

// Prompt -> image (request.text set): CLIP-L, CLIP-G and T5-XXL from the all-in-one checkpoint,
// the MMDiT's CFG flow-matching sampler, the VAE decoder. Writes image 0's pixels to
// text->pixels_out and, with request.dump, the reference's tensors; the result carries "image",
// per-stage "timings_ms", "stats", "memory" and "checks" (named findings).
Result<nlohmann::json> run_text_to_image(const SmokeRequest& request, Reporter& reporter);

// One decode of unscaled latents (diffusers vae.decode(z), no clamping) by the checkpoint's VAE;
// tile > 0: overlapping tiles of that many latent pixels, blended.
Result<Tensor32> decode_with_vae(const std::string& checkpoint, const Tensor32& z,
                                 Precision precision, const std::string& device, int tile = 0);

// What a broken FP8 loader would do to the T5's scales (to prove the check below catches it).
enum class ScaleFault { none, ignored, applied_twice };
// The T5 FP8 scale check: block 0 on the compute path vs the same block recomputed in float32 on
// the CPU from the stored FP8 bytes (torch-free codec) times the stored scales — of an all-in-one
// file or of a diffusers folder's text_encoder_3/ shards.
// {"id": "pipeline.t5-fp8-scale", "ok", "rel_l2", "limit", "std", "std_recomputed", "detail"}.
Result<nlohmann::json> check_t5_fp8_scales(const std::string& checkpoint,
                                           const std::vector<std::int64_t>& t5_ids,
                                           Precision precision, const std::string& device,
                                           ScaleFault fault = ScaleFault::none);

// The whole smoke test; the result document carries "summary", "ok", metrics and a fingerprint.
Result<nlohmann::json> run_smoke(const SmokeRequest& request, Reporter& reporter);

struct BenchRequest {
  std::string model = "large";  // large | medium
  int latent = 128;             // latent side (1024 px image)
  int text_tokens = 333;
  int warmup = 2;
  int iters = 5;
  std::vector<Precision> precisions{Precision::fp8, Precision::fp8_weights, Precision::bf16};
  bool variants = true;    // also time the fused fp8 step unfused and per attention backend
  bool cuda_graph = true;  // also time the step replayed as a CUDA graph
};
// One CFG step (batch 2) of a random-weight model per precision: ms/step, peak memory.
Result<nlohmann::json> run_benchmark(const BenchRequest& request);
// FP8 and BF16 GEMM TFLOP/s at the given (M,N,K) shapes and 8192^3, with % of the GPU's dense peak.
Result<nlohmann::json> gemm_probe(const MmditConfig& config, int tokens);

}  // namespace sd35::smoke
