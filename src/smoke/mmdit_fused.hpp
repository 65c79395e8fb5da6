// The fused native-FP8 transformer block (CUDA): row-wise FP8 activations produced by the fused
// kernels of smoke/cuda/ and consumed by at::_scaled_mm with row-wise scales. TORCH HEADER:
// include only from src/smoke/*.cpp.
//
// Built only where CMake found a CUDA compiler and a CUDA libtorch (SD35_CUDA_KERNELS); elsewhere
// available() says why not and the ATen path of mmdit_forward.cpp runs.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "smoke/mmdit_model.hpp"

// The fused path needs the kernels and a libtorch with float8 and row-wise _scaled_mm.
#if defined(SD35_CUDA_KERNELS) && defined(SD35_TORCH_SCALED_MM) && defined(SD35_TORCH_CUDA)
#define SD35_FUSED_PATH 1
#endif

namespace sd35::smoke::fused {

// E4M3 rows with one float scale per row: [M, ld] float8 and [M, 1] float32.
struct Fp8Act {
  at::Tensor q;
  at::Tensor scale;
};

// Whether the fused block can run `model` under `exec`; fills `why_not` otherwise. Prepares the
// per-model state it needs (row-wise weight scales, float RMSNorm weights) on success.
bool prepare(Model& model, const Exec& exec, std::string& why_not);

// Every transformer block (fused_block.cpp); h [B, L, D] and ctx [B, Lc, D] contiguous bf16,
// updated in place; `mod` the step's adaLN rows. The text tokens' work runs on a second CUDA
// stream beside the image tokens' unless SD35_CONTEXT_STREAM=0; h and ctx are complete, and the
// caller's stream has waited for both, when it returns.
void blocks_forward(const Model& model, at::Tensor& h, at::Tensor& ctx, const Modulation& mod);
// Whether blocks_forward runs the text tokens on their own stream (SD35_CONTEXT_STREAM not 0).
bool context_stream_enabled();

// ---- FP8 joint attention through cuDNN (fused_attention.cpp) ------------------------------------

// Sets each block's FP8 attention scales where the joint attention can run in FP8 (cuDNN with
// its headers at build time, RMSNorm on q and k of both streams, SD35_FP8_ATTENTION not 0);
// returns model.attention_note's text.
std::string prepare_fp8_attention(Model& model, const Exec& exec);
// One block's part of it: false when the block cannot run its joint attention in FP8.
bool set_fp8_attention_scales(Block& b, std::int64_t head_dim, const at::Device& device);

// The joint attention's output in E4M3, [B, L + Lc, H * Dh] contiguous, true value = o8 * scale
// (scale a device float, max |v| / 448: the output is an average of v's rows).
struct Fp8Attention {
  at::Tensor o8;
  at::Tensor scales;  // [2]: the output's (and v's) descale, then its scale
};
// q, k, v packed from the qkv projections and the attention run in FP8; nullopt (and the block
// should run the bf16 path) when cuDNN builds no plan for this shape, which is then remembered.
std::optional<Fp8Attention> attention_fp8(const Block& b, const at::Tensor& img_qkv,
                                          const at::Tensor& ctx_qkv, int heads);
// Rows (b, first + i), i < count, of the FP8 attention output as GEMM rows.
Fp8Act gather_fp8(const Fp8Attention& a, std::int64_t first, std::int64_t count, std::int64_t ld);
// Builds cuDNN's plan for `batch` x `tokens` now (beside another stage's work), so the first
// denoising step does not; true when a plan for it exists.
bool build_fp8_attention_plan(const Model& model, std::int64_t batch, std::int64_t tokens);
// Why the last attention_fp8 call fell back, empty when none did.
std::string fp8_attention_fallback();

// The kernels with torch tensors (exposed for the GPU tests that check them against ATen).
Fp8Act ln_modulate_quant(at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale,
                         std::int64_t ld);
Fp8Act gate_residual_ln_modulate_quant(at::Tensor& x, const at::Tensor& gate, const at::Tensor& y,
                                       const at::Tensor& shift, const at::Tensor& scale,
                                       std::int64_t ld);
Fp8Act gelu_quant(const at::Tensor& x, std::int64_t ld);
// Rows (b, first + i), i < count, of an attention output [B, H, T, Dh] (any strides, Dh
// contiguous), merged over heads.
Fp8Act gather_quant(const at::Tensor& o, std::int64_t first, std::int64_t count, std::int64_t ld);
void gate_residual(at::Tensor& x, const at::Tensor& gate, const at::Tensor& y);
// q, k, v as [B, H, L + Lc, Dh] views of [B, L + Lc, H, Dh] storage; norms float or undefined.
std::array<at::Tensor, 3> qkv_pack(const at::Tensor& img, const at::Tensor& ctx, int heads,
                                   const std::array<at::Tensor, 4>& norms);
// a.q @ W^T (+ bias) with row-wise activation scales and the weight's per-tensor scale.
at::Tensor scaled_mm_rowwise(const Fp8Act& a, const Linear& l);

// ---- Scaled FP8 weights to bf16 ------------------------------------------------------------

// Whether dequantize_e4m3 takes `w` (contiguous E4M3 on CUDA, a multiple of 16 elements, the
// kernels loaded).
bool dequant_ready(const at::Tensor& w);
// bf16(w * scale) in one pass, bit for bit w.to(bf16).mul_(scale).
at::Tensor dequantize_e4m3(const at::Tensor& w, double scale);

// ---- The VAE decoder's GroupNorm (+ SiLU) ----------------------------------------------------

// Whether group_norm_silu takes `x` ([N, C, H, W] contiguous bf16 on CUDA, H * W a multiple of 8,
// C a multiple of `groups`, the kernels loaded, SD35_FUSED_GROUPNORM not 0).
bool group_norm_ready(const at::Tensor& x, std::int64_t groups);
// GroupNorm(x) * weight + bias (float statistics), then SiLU when `silu`; bf16 out.
at::Tensor group_norm_silu(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                           std::int64_t groups, double eps, bool silu);

// Attention backend for measurements: "auto" (torch's choice), "flash", "efficient" or "cudnn".
// Returns false (and changes nothing) where this libtorch cannot select it.
bool select_attention_backend(const std::string& name);
// The backend torch picks for these inputs ("flash", "efficient", "cudnn", "math", ...).
std::string attention_backend_for(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace sd35::smoke::fused
