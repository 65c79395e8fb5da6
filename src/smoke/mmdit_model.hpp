// libtorch MMDiT (diffusers SD3Transformer2DModel forward). TORCH HEADER: include it only from
// src/smoke/*.cpp (target sd35torch); everything outside goes through smoke/smoke.hpp.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

#include <array>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "safetensors/safetensors.hpp"
#include "smoke/mmdit_config.hpp"
#include "smoke/smoke.hpp"

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
#define SD35_TORCH_FLOAT8 1
#endif
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
#define SD35_TORCH_SCALED_MM 1
#endif
#if TORCH_VERSION_MAJOR >= 2
#define SD35_TORCH_SDPA 1
#endif
// CUDA-specific calls (device properties, allocator statistics) only where the CUDA toolkit
// headers come with libtorch (pip CUDA builds); Debian's CPU libtorch has neither.
#if defined(SD35_TORCH_FLOAT8) && __has_include(<cuda_runtime_api.h>)
#define SD35_TORCH_CUDA 1
#endif

namespace sd35::smoke {

// A Linear (or conv) parameter in its stored form. FP8 weights stay one byte per element
// (uint8 on libtorch < 2.1, float8 otherwise) and are dequantised per call.
struct Linear {
  at::Tensor weight;  // [out, in] (conv: [out, in, p, p])
  at::Tensor bias;    // [out] or undefined
  bool fp8 = false;
  bool e5m2 = false;
  float scale = 1.0F;        // true weight = fp8 * scale
  float input_scale = 0.0F;  // static activation scale for native FP8 (0 = dynamic amax)
  // Native FP8 path, prepared once: [K_pad, N_pad] column-major float8 view, device scale tensors.
  at::Tensor w_t;
  at::Tensor scale_b;
  at::Tensor bias_bf16;
  std::int64_t k_pad = 0;
  at::Tensor scale_row;  // fused path: the per-tensor scale as _scaled_mm's row-wise [1, N_pad]
};

struct Block {
  Linear norm1, norm1_ctx, qkv, add_qkv, to_out, to_add_out, ff1, ff2, ffc1, ffc2, qkv2, to_out2;
  at::Tensor norm_q, norm_k, norm_added_q, norm_added_k, norm_q2, norm_k2;  // RMSNorm weights
  bool dual = false;
  bool pre_only = false;  // context_pre_only (last block)
  // fused path: norm_q, norm_k, norm_added_q, norm_added_k, norm_q2, norm_k2 as float32
  std::array<at::Tensor, 6> norm_f32;
  // fused path, FP8 joint attention (fused_attention.cpp): q and k are quantised with these fixed
  // scales (0: this block's joint attention stays bf16); descale_qk holds their inverses on the
  // device, as cuDNN reads them.
  float attn_q_scale = 0.0F, attn_k_scale = 0.0F;
  at::Tensor attn_descale_qk;
};

// Every Linear of a block (absent ones have an undefined weight), for loops over parameters.
inline std::array<Linear*, 12> block_linears(Block& b) {
  return {&b.norm1, &b.norm1_ctx, &b.qkv,  &b.add_qkv, &b.to_out, &b.to_add_out,
          &b.ff1,   &b.ff2,       &b.ffc1, &b.ffc2,    &b.qkv2,   &b.to_out2};
}

struct Model {
  MmditConfig config;
  LoadedCheckpointInfo info;
  at::Tensor pos_embed;  // [1, M*M, D]
  Linear patch, t1, t2, y1, y2, context_embedder, norm_out, proj_out;
  std::vector<Block> blocks;
  std::vector<std::shared_ptr<st::File>> files;  // mmaps that zero-copy CPU tensors point into
  // Native FP8 only: run the blocks through the fused CUDA kernels (set by prepare_model when
  // they can; fused_note says why not otherwise).
  bool fused = false;
  std::string fused_note;
  // Which attention the fused blocks run: "cuDNN FP8" or "SDPA bf16 (why not FP8)".
  std::string attention_note;
};

struct Exec {
  Precision requested = Precision::fp32;
  Precision effective = Precision::fp32;
  at::Device device = at::kCPU;
  at::ScalarType act = at::kFloat;
  bool native_fp8 = false;
  std::string note;  // why the effective path differs from the requested one
};

// Device + precision -> what can run here (never fails: falls back and says why in `note`).
Result<Exec> plan_exec(Precision precision, const std::string& device);

// Loads diffusers (dir, single file, shards + index) or SAI/ComfyUI single files (bf16 or scaled
// FP8). quantize_fp8: store the transformer-block Linears as per-tensor scaled E4M3 when they are
// not FP8.
Result<Model> load_model(const std::string& path, bool quantize_fp8);
// Deterministic random weights (seeded), optionally quantised, for the embedded default and
// benchmarks.
Model synthetic_model(const MmditConfig& config, std::uint64_t seed, bool quantize_fp8,
                      at::Device device, at::ScalarType storage);
// Moves the weights to the device (FP8 stays FP8) and prepares native FP8 weights when exec asks.
Status prepare_model(Model& model, const Exec& exec);

// y = x W^T + b on the exec's path (native FP8 GEMM, or dequantised weights).
at::Tensor apply_linear(const Linear& l, const at::Tensor& x, const Exec& e);

// A CPU tensor over a mapped safetensors tensor: zero-copy when aligned, else one copy. FP8 is
// float8 (uint8 on libtorch < 2.1); other integer dtypes are refused.
Result<at::Tensor> mapped_tensor(const st::File& file, const st::TensorInfo& info);
// Appends each layer's weight and bias to `tensors`, for one upload() of a whole model
// (device_upload.hpp).
void add_layer_tensors(std::vector<at::Tensor*>& tensors, std::initializer_list<Linear*> layers);

// What a forward takes from the timestep and the pooled text: every block's adaLN output (image
// and context stream) and the final layer's (scale, shift), for N rows of (timestep, pooled), in
// one tensor so that a caller can hold it in one static buffer (a CUDA graph's input).
struct Modulation {
  at::Tensor packed;                                            // [N, W], the act dtype
  std::vector<std::array<std::int64_t, 2>> img_cols, ctx_cols;  // per block: (offset, width)
  std::array<std::int64_t, 2> out_cols{};
  at::Tensor img(std::size_t block) const { return cols(img_cols[block]); }
  at::Tensor ctx(std::size_t block) const { return cols(ctx_cols[block]); }
  at::Tensor out() const { return cols(out_cols); }
  // Rows [start, start + n) (views).
  Modulation rows(std::int64_t start, std::int64_t n) const {
    Modulation m = *this;
    m.packed = packed.narrow(0, start, n);
    return m;
  }

 private:
  at::Tensor cols(const std::array<std::int64_t, 2>& c) const {
    return packed.narrow(1, c[0], c[1]);
  }
};

// The modulation for rows of `timestep` [N] and `pooled` [N, P]: the timestep and pooled-text
// embedders, SiLU, then each block's adaLN linears. One call for many rows (all steps of a
// sampling run) reads each adaLN weight once instead of once per step.
Modulation modulation(const Model& model, const Exec& exec, const at::Tensor& timestep,
                      const at::Tensor& pooled);

// Velocity prediction; inputs in any float dtype, result float32 [B, C, H, W].
Result<at::Tensor> forward(const Model& model, const Exec& exec, const at::Tensor& latents,
                           const at::Tensor& context, const at::Tensor& pooled,
                           const at::Tensor& timestep);
// The same with the modulation computed beforehand (`mod` has B rows).
Result<at::Tensor> forward(const Model& model, const Exec& exec, const at::Tensor& latents,
                           const at::Tensor& context, const Modulation& mod);

// CFG flow-matching Euler loop from `noise` (batch [uncond, cond]), float32 result.
Result<at::Tensor> sample(const Model& model, const Exec& exec, const at::Tensor& noise,
                          const at::Tensor& context, const at::Tensor& pooled,
                          const at::Tensor& uncond_context, const at::Tensor& uncond_pooled,
                          const SamplingSpec& spec);

// Stores every transformer-block Linear that is not FP8 yet as per-tensor scaled E4M3.
void quantize_blocks(Model& m);
// Quantises a float tensor to per-tensor scaled E4M3 (stored like a checkpoint's FP8 weight).
void quantize_linear(Linear& l);
at::Tensor dequantize(const Linear& l, at::ScalarType dtype);
std::uint64_t weight_bytes(const Model& m);

// Error text of a c10::Error without the C++ backtrace.
std::string torch_error_text(const std::exception& e);

}  // namespace sd35::smoke
