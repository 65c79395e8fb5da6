// Fused CUDA kernels for the native FP8 MMDiT path. Plain C++ declarations (no CUDA or torch
// headers), so both the .cu file and the torch glue (src/smoke/fused_ops.cpp) can include it.
//
// Why: one CFG step of SD3.5 Large spends as long in unfused elementwise work (LayerNorm,
// modulate, gate, GELU, qk-RMSNorm, head packing and activation quantisation, each a separate
// pass over [tokens, D] in ATen) as in its FP8 GEMMs. Every kernel here reads its input once and
// writes FP8 rows with a per-row scale that at::_scaled_mm takes as its row-wise scale_a.
//
// Conventions: bf16 tensors are raw pointers to __nv_bfloat16; "rows" are tokens of all batch
// items ([B * L, width], row r belongs to batch item r / rows_per_batch); FP8 outputs are E4M3FN
// rows of `ld` bytes (ld >= width, a multiple of 16; the padding is written as zeros) plus one
// float scale per row (true value = fp8 * scale). Each function returns 0 or a cudaError_t
// value, and launches on `stream` (a cudaStream_t).
#pragma once

#ifndef SD35_FUSED_KERNELS_NO_STD_HEADERS
#include <cstdint>
#endif

namespace sd35::smoke::cuda {

// The widest row the row kernels keep on chip (a float per element in shared memory, within the
// 48 KiB a block gets without opting in; SD3.5 Large's widest row, the 4 x 2432 MLP, is 9728).
constexpr std::int64_t kMaxRowWidth = 11264;

struct Fp8Rows {
  void* data = nullptr;    // [rows, ld] E4M3FN
  float* scale = nullptr;  // [rows]
  std::int64_t ld = 0;
};

// Per-batch-item vectors ([B, width] with a row stride, e.g. a chunk of the adaLN output).
struct BatchVector {
  const void* data = nullptr;  // bf16
  std::int64_t stride = 0;     // elements between batch items
};

// out = quant(LayerNorm(x) * (1 + scale) + shift), LayerNorm without affine, eps 1e-6.
// With `residual` (gate and y set): first x += gate * y (written back to x, rounded to bf16 like
// ATen's addcmul), then the same on the updated x.
struct LnModulateQuantArgs {
  void* x = nullptr;  // bf16 [rows, width], contiguous
  std::int64_t rows = 0, rows_per_batch = 0, width = 0;
  BatchVector shift, scale;
  bool residual = false;
  BatchVector gate;
  const void* y = nullptr;  // bf16 [rows, width], contiguous
  Fp8Rows out;
};
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int ln_modulate_quant(const LnModulateQuantArgs& a, void* stream);
#endif

// out = quant(gelu_tanh(x)).
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int gelu_quant(const void* x, std::int64_t rows, std::int64_t width, Fp8Rows out, void* stream);
#endif

// Quantises rows gathered from a strided [B, tokens, heads, head_dim] tensor (the attention
// output, whatever its memory layout): rows are (b, first_token + i) for i < tokens_per_batch.
struct GatherQuantArgs {
  const void* x = nullptr;  // bf16
  std::int64_t batch = 0, first_token = 0, tokens_per_batch = 0, heads = 0, head_dim = 0;
  std::int64_t stride_batch = 0, stride_token = 0, stride_head = 0;  // elements; head_dim stride 1
  Fp8Rows out;
};
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int gather_quant(const GatherQuantArgs& a, void* stream);
#endif

// x += gate * y (bf16, in place; gate per batch item).
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int gate_residual(void* x, std::int64_t rows, std::int64_t rows_per_batch, std::int64_t width,
                  BatchVector gate, const void* y, void* stream);
#endif

// Splits fused qkv projections of image and context tokens into q, k, v of shape
// [B, L_img + L_ctx, heads, head_dim] (contiguous bf16), applying RMSNorm (eps 1e-6, float
// weights; null = no norm) to q and k per head: the layout scaled_dot_product_attention reads
// through a transpose(1, 2) view, so the concatenation and permutes cost nothing extra.
struct QkvPackArgs {
  const void* img = nullptr;  // bf16 [B, L_img, 3 * heads * head_dim]
  const void* ctx = nullptr;  // bf16 [B, L_ctx, 3 * heads * head_dim] or null (L_ctx = 0)
  std::int64_t batch = 0, img_tokens = 0, ctx_tokens = 0, heads = 0, head_dim = 0;
  const float* norm_q = nullptr;
  const float* norm_k = nullptr;
  const float* norm_ctx_q = nullptr;
  const float* norm_ctx_k = nullptr;
  void* q = nullptr;
  void* k = nullptr;
  void* v = nullptr;
  // FP8 attention (needs the vectorised form): q and k are written as E4M3 times these scales
  // (fixed per block: an RMS-normed head is at most sqrt(head_dim) * max|weight|), v stays bf16
  // and max |v| goes to *v_amax (a float >= 0 set to 0 beforehand) for v_quant.
  bool fp8_qk = false;
  float q_scale = 1.0F, k_scale = 1.0F;
  float* v_amax = nullptr;
};
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int qkv_pack(const QkvPackArgs& a, void* stream);
#endif

// v8 = E4M3(v * 448 / amax) over `count` bf16 values (a multiple of 8, 16-byte aligned), with
// amax = *v_amax; scales[0] = amax / 448 (v's and, bounded by max |v|, the attention output's
// descale) and scales[1] = 448 / amax (the output's scale). amax 0: both 1.
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int v_quant(const void* v, std::int64_t count, const float* v_amax, void* v8, float* scales,
            void* stream);
#endif

// Gathers rows (b, first_token + i), i < tokens_per_batch, of an E4M3 attention output stored
// [B, tokens, width] (row stride `row_stride` bytes) into Fp8Rows, each row's scale *scale.
struct GatherFp8Args {
  const void* x = nullptr;
  std::int64_t batch = 0, first_token = 0, tokens_per_batch = 0, tokens = 0, width = 0;
  const float* scale = nullptr;
  Fp8Rows out;
};
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int gather_fp8(const GatherFp8Args& a, void* stream);
#endif

// out = bf16(float(w) * scale) for `count` E4M3 bytes (a multiple of 16; w and out 16-byte
// aligned): a scaled FP8 weight dequantised for a bf16 GEMM in one pass (ATen's cast, then its
// multiply, is three passes over the bf16 copy), bit for bit ATen's result.
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int dequant_e4m3(const void* w, std::int64_t count, float scale, void* out, void* stream);
#endif

// y = GroupNorm(x) * weight + bias, then SiLU when `silu`: the VAE decoder's norms. x and y bf16
// [batch, channels, hw] contiguous, hw a multiple of 8 (a group's elements are then whole 16-byte
// chunks of one channel each), weight and bias float [channels]. Statistics in float, as ATen's
// group_norm on a float copy computes them, but from the bf16 input in place and with the
// group's work spread over `splits` blocks (ATen's kernel has one block per group: 32 blocks for
// a whole 1024^2 image): partial moments go to `partials` ([batch * groups * splits, 3] floats),
// then every slice normalises its part.
struct GroupNormArgs {
  const void* x = nullptr;
  void* y = nullptr;
  std::int64_t batch = 0, channels = 0, hw = 0, groups = 0, splits = 0;
  const float* weight = nullptr;
  const float* bias = nullptr;
  float eps = 1e-6F;
  bool silu = false;
  float* partials = nullptr;
};
#ifndef __CUDACC_RTC__  // host entry point (NVRTC compiles device code only)
int group_norm(const GroupNormArgs& a, void* stream);

// Slices per group: about four blocks per SM of an H100/H200 in all, none under 2048 chunks.
inline std::int64_t group_norm_splits(std::int64_t batch, std::int64_t channels, std::int64_t hw,
                                      std::int64_t groups) {
  const std::int64_t all_groups = batch * groups;
  if (all_groups <= 0) return 1;
  const std::int64_t chunks = channels / groups * hw / 8;
  const std::int64_t want = (std::int64_t{132} * 4 + all_groups - 1) / all_groups;
  const std::int64_t most = chunks / 2048;
  return want < most ? want : (most > 1 ? most : 1);
}
#endif

#ifndef __CUDACC_RTC__
// Whether the kernels can run in this process: nullptr when they can, else why not (NVRTC missing
// or its compilation failed; the nvcc build is always ready).
const char* kernels_unavailable();
// How the kernels got here: "nvcc" (compiled into the plugin) or "nvrtc" (compiled at run time).
const char* kernels_source();
// Text for a non-zero return value of the functions above.
const char* error_text(int rc);
#endif

}  // namespace sd35::smoke::cuda
