// Device code of the fused FP8 kernels (contract: fused_kernels.hpp). Compiled two ways: by nvcc
// into the plugin (fused_kernels.cu includes this file) or at run time by NVRTC for the GPU's
// exact architecture (fused_nvrtc.cpp), where a pip CUDA wheel brings libnvrtc but no nvcc. So it
// includes nothing NVRTC lacks: no <cstdint> or <algorithm> under __CUDACC_RTC__.
#pragma once

#ifdef __CUDACC_RTC__
// The LP64 types glibc's <cstdint> declares, so host and device agree on every argument layout.
namespace std {
using int64_t = long;
using uint32_t = unsigned int;
using uint8_t = unsigned char;
using uintptr_t = unsigned long;
}  // namespace std
#define SD35_FUSED_KERNELS_NO_STD_HEADERS 1
#endif
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "smoke/cuda/fused_kernels.hpp"

namespace sd35::smoke::cuda::dev {

constexpr int kThreads = 256;
constexpr int kGeluThreads = 320;  // launch::kGeluThreads
constexpr float kE4M3Max = 448.0F;
constexpr float kEps = 1e-6F;

using bf16 = __nv_bfloat16;

__host__ __device__ __forceinline__ bool aligned16(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15U) == 0;
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffU, v, o);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffU, v, o));
  return v;
}

// Block-wide sum or max; every thread gets the result. `scratch` holds 32 floats.
template <bool kMax>
__device__ float block_reduce(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = kMax ? warp_max(v) : warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous reduction
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) >> 5;
  v = lane < warps ? scratch[lane] : 0.0F;  // 0 is neutral for sums and for max of |x|
  return kMax ? warp_max(v) : warp_sum(v);
}

// Eight bf16 at once (16-byte loads) where the row allows it.
struct Bf16x8 {
  __nv_bfloat162 h[4];
};

// Eight bf16 held in a uint4 as floats.
__device__ __forceinline__ void unpack8(const uint4& u, float* f) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&u);
  for (int i = 0; i < 4; ++i) {
    const float2 t = __bfloat1622float2(h[i]);
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}

// One chunk (8 bf16, 16 bytes) loaded as it is, for the kernels that keep their row packed.
__device__ __forceinline__ uint4 ld16(const bf16* p) {
  return *reinterpret_cast<const uint4*>(p);
}

__device__ __forceinline__ void load8(const bf16* p, float* f) {
  unpack8(ld16(p), f);
}

// x + gate * y on eight bf16, rounded to bf16 as ATen's addcmul stores it: the gated residual of
// gate_residual and of ln_modulate_quant's residual form.
__device__ __forceinline__ uint4 gated_residual8(uint4 x, const uint4& gate, const uint4& y) {
  auto* px = reinterpret_cast<__nv_bfloat162*>(&x);
  const auto* pg = reinterpret_cast<const __nv_bfloat162*>(&gate);
  const auto* py = reinterpret_cast<const __nv_bfloat162*>(&y);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 fx = __bfloat1622float2(px[i]), fg = __bfloat1622float2(pg[i]),
                 fy = __bfloat1622float2(py[i]);
    px[i] = __floats2bfloat162_rn(fx.x + fg.x * fy.x, fx.y + fg.y * fy.y);
  }
  return x;
}

__device__ __forceinline__ void store8(bf16* p, const float* f) {
  Bf16x8 v;
  for (int i = 0; i < 4; ++i) v.h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  *reinterpret_cast<Bf16x8*>(p) = v;
}

// Eight values times `scale` as saturated E4M3, one 8-byte store. Two values per conversion
// (cvt.rn.satfinite.e4m3x2.f32 on sm_89+, the same rounding as one at a time): the row kernels
// convert every element they write, and half the conversions is measurable there
// (tests/tools/row_kernels_probe.cu).
__device__ __forceinline__ void store8_fp8(unsigned char* p, const float* f, float scale) {
  std::uint32_t word[2] = {0U, 0U};
  for (int i = 0; i < 8; i += 2) {  // the first of each pair in the low byte
    const std::uint32_t pair = __nv_cvt_float2_to_fp8x2(make_float2(f[i] * scale, f[i + 1] * scale),
                                                        __NV_SATFINITE, __NV_E4M3);
    word[i / 4] |= pair << (8 * (i % 4));
  }
  *reinterpret_cast<uint2*>(p) = make_uint2(word[0], word[1]);
}

__device__ __forceinline__ float max8(const float* f) {
  float m = 0.0F;
  for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(f[i]));
  return m;
}

// Writes row[0, width) * inv as saturated E4M3 and zeros up to ld; then the row's scale.
__device__ void write_fp8_row(const float* row, std::int64_t width, float amax, Fp8Rows out,
                              std::int64_t r) {
  const float inv = amax > 0.0F ? kE4M3Max / amax : 0.0F;
  auto* dst = static_cast<__nv_fp8_storage_t*>(out.data) + r * out.ld;
  // Four bytes per store: ld is a multiple of 16.
  for (std::int64_t j = 4 * threadIdx.x; j < out.ld; j += 4 * blockDim.x) {
    std::uint32_t packed = 0;
    for (int i = 0; i < 4; ++i) {
      const std::int64_t c = j + i;
      const float v = c < width ? row[c] * inv : 0.0F;
      const auto byte = __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
      packed |= static_cast<std::uint32_t>(byte) << (8 * i);
    }
    *reinterpret_cast<std::uint32_t*>(dst + j) = packed;
  }
  if (threadIdx.x == 0) out.scale[r] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
}

__device__ __forceinline__ float bf(const void* base, std::int64_t i) {
  return __bfloat162float(static_cast<const bf16*>(base)[i]);
}

// ---- Row kernels, vectorised form: one block per row, the row held in registers. Thread t owns
// chunks t, t + blockDim, ... (N of them; a chunk is 8 bf16 = 16 bytes), so every load and store
// is a coalesced 16-byte access, all N loads are in flight before the first use, and the row
// never goes through shared memory (the launcher picks N and blockDim from the width).

template <int N>
__device__ __forceinline__ int chunk_of(int k) {
  return threadIdx.x + k * blockDim.x;
}

// v[k] = the chunk at p + 8 * chunk_of(k), zeros past the row.
template <int N>
__device__ __forceinline__ void load_chunks(const bf16* p, int chunks, float (&v)[N][8]) {
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = chunk_of<N>(k);
    if (c < chunks) {
      load8(p + 8 * c, v[k]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[k][i] = 0.0F;
    }
  }
}

template <int N>
__device__ __forceinline__ void store_chunks(bf16* p, int chunks, const float (&v)[N][8]) {
#pragma unroll
  for (int k = 0; k < N; ++k)
    if (chunk_of<N>(k) < chunks) store8(p + 8 * chunk_of<N>(k), v[k]);
}

template <int N>
__device__ __forceinline__ float chunks_amax(const float (&v)[N][8]) {
  float m = 0.0F;  // chunks past the row hold zeros
#pragma unroll
  for (int k = 0; k < N; ++k)
#pragma unroll
    for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(v[k][i]));
  return m;
}

// Writes the row (v * 448 / amax as saturated E4M3, 8 bytes per chunk), zeros from the row's end
// up to ld (a multiple of 16, the width one of 8: whole chunks), then the row's scale.
template <int N>
__device__ void write_fp8_chunks(const float (&v)[N][8], int chunks, float amax, Fp8Rows out,
                                 std::int64_t r) {
  const float inv = amax > 0.0F ? kE4M3Max / amax : 0.0F;
  auto* dst = static_cast<unsigned char*>(out.data) + r * out.ld;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = chunk_of<N>(k);
    if (c < chunks) store8_fp8(dst + 8 * c, v[k], inv);
  }
  const int ld_chunks = static_cast<int>(out.ld / 8);
  for (int c = chunks + static_cast<int>(threadIdx.x); c < ld_chunks; c += blockDim.x)
    *reinterpret_cast<uint2*>(dst + 8 * c) = make_uint2(0U, 0U);
  if (threadIdx.x == 0) out.scale[r] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
}

// The row is held as its bf16 bytes, which loses nothing: the input is bf16, and after the residual
// the row is rounded to bf16 as ATen's addcmul stores it. The statistics and the modulated values
// are unpacked from it each pass (FMAs only). At 47 registers instead of 64, 8 rows are in flight
// an SM instead of 6: 8192 x 2432 with the residual 60.7 -> 51.9 us on the H200, bit-identical
// (tests/tools/row_kernels_probe.cu). Shift and scale load after the statistics: loaded with the
// row they cost the registers that buy the extra rows (61.8 us). Wider rows (N > 2) keep the
// compiler's register choice: capped, they spill.
template <int N>
__global__ void __launch_bounds__(kThreads, N == 2 ? 5 : 1)
    ln_modulate_quant_vec_kernel(LnModulateQuantArgs a) {
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / a.rows_per_batch;
  const int chunks = static_cast<int>(a.width / 8);
  const uint4 zero = make_uint4(0U, 0U, 0U, 0U);
  bf16* x = static_cast<bf16*>(a.x) + r * a.width;
  uint4 v[N];
#pragma unroll
  for (int k = 0; k < N; ++k) v[k] = chunk_of<N>(k) < chunks ? ld16(x + 8 * chunk_of<N>(k)) : zero;
  if (a.residual) {
    const bf16* gp = static_cast<const bf16*>(a.gate.data) + b * a.gate.stride;
    const bf16* yp = static_cast<const bf16*>(a.y) + r * a.width;
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const int c = chunk_of<N>(k);
      if (c >= chunks) continue;
      v[k] = gated_residual8(v[k], ld16(gp + 8 * c), ld16(yp + 8 * c));
      *reinterpret_cast<uint4*>(x + 8 * c) = v[k];
    }
  }
  float sum = 0.0F;  // chunks past the row hold zeros
#pragma unroll
  for (int k = 0; k < N; ++k) {
    float f[8];
    unpack8(v[k], f);
#pragma unroll
    for (int i = 0; i < 8; ++i) sum += f[i];
  }
  const float w = static_cast<float>(a.width);
  const float mean = block_reduce<false>(sum, scratch) / w;
  float sq = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    if (chunk_of<N>(k) >= chunks) continue;
    float f[8];
    unpack8(v[k], f);
#pragma unroll
    for (int i = 0; i < 8; ++i) sq += (f[i] - mean) * (f[i] - mean);
  }
  const float rstd = rsqrtf(block_reduce<false>(sq, scratch) / w + kEps);
  const bf16* scp = static_cast<const bf16*>(a.scale.data) + b * a.scale.stride;
  const bf16* shp = static_cast<const bf16*>(a.shift.data) + b * a.shift.stride;
  uint4 sc[N], sh[N];
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = chunk_of<N>(k);
    sc[k] = c < chunks ? ld16(scp + 8 * c) : zero;
    sh[k] = c < chunks ? ld16(shp + 8 * c) : zero;
  }
  auto modulated = [&](int k, float* f) {
    float fs[8], fh[8];
    unpack8(v[k], f);
    unpack8(sc[k], fs);
    unpack8(sh[k], fh);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = (f[i] - mean) * rstd * (1.0F + fs[i]) + fh[i];
  };
  float m = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    if (chunk_of<N>(k) >= chunks) continue;
    float f[8];
    modulated(k, f);
    m = fmaxf(m, max8(f));
  }
  const float amax = block_reduce<true>(m, scratch);
  const float inv = amax > 0.0F ? kE4M3Max / amax : 0.0F;
  auto* dst = static_cast<unsigned char*>(a.out.data) + r * a.out.ld;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = chunk_of<N>(k);
    if (c >= chunks) continue;
    float f[8];
    modulated(k, f);
    store8_fp8(dst + 8 * c, f, inv);
  }
  const int ld_chunks = static_cast<int>(a.out.ld / 8);
  for (int c = chunks + static_cast<int>(threadIdx.x); c < ld_chunks; c += blockDim.x)
    *reinterpret_cast<uint2*>(dst + 8 * c) = make_uint2(0U, 0U);
  if (threadIdx.x == 0) a.out.scale[r] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
}

// gelu with the tanh approximation, written as x * sigmoid(2u) = x / (1 + e^-2u) (the same
// function: 0.5 (1 + tanh u) = sigmoid(2u)): one fast exponential instead of tanhf, within a few
// float ulps, and no cancellation in the negative tail.
__device__ __forceinline__ float gelu_tanh_fast(float x) {
  constexpr float kAlpha2 = 2.0F * 0.7978845608028654F;  // 2 sqrt(2 / pi)
  const float u2 = kAlpha2 * (x + 0.044715F * x * x * x);
  return __fdividef(x, 1.0F + __expf(-u2));
}

// The row's GELU computed once, rounded to bf16 (as ATen's gelu on a bf16 tensor stores it) and
// held packed in the input's registers, so the store pass only scales and converts. Computing it
// twice from the input (for the amax, then for the store) cost 4 special-function ops an element,
// which at 8192 x 9728 alone is ~76 us of the H200's MUFU throughput: 107.1 -> 77.5 us
// (tests/tools/row_kernels_probe.cu; the quantisation without GELU takes 57.9, a copy 60.0).
template <int N>
__global__ void __launch_bounds__(kGeluThreads)
    gelu_quant_vec_kernel(const bf16* x, std::int64_t width, Fp8Rows out) {
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const int chunks = static_cast<int>(width / 8);
  uint4 h[N];
#pragma unroll
  for (int k = 0; k < N; ++k) {  // zeros past the row: gelu(0) = 0 leaves the amax alone
    const int c = chunk_of<N>(k);
    h[k] = c < chunks ? ld16(x + r * width + 8 * c) : make_uint4(0U, 0U, 0U, 0U);
  }
  float m = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    auto* p = reinterpret_cast<__nv_bfloat162*>(&h[k]);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __bfloat1622float2(p[i]);
      p[i] = __floats2bfloat162_rn(gelu_tanh_fast(f.x), gelu_tanh_fast(f.y));
      const float2 g = __bfloat1622float2(p[i]);
      m = fmaxf(m, fmaxf(fabsf(g.x), fabsf(g.y)));
    }
  }
  const float amax = block_reduce<true>(m, scratch);
  const float inv = amax > 0.0F ? kE4M3Max / amax : 0.0F;
  auto* dst = static_cast<unsigned char*>(out.data) + r * out.ld;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = chunk_of<N>(k);
    if (c >= chunks) continue;
    float f[8];
    unpack8(h[k], f);
    store8_fp8(dst + 8 * c, f, inv);
  }
  const int ld_chunks = static_cast<int>(out.ld / 8);
  for (int c = chunks + static_cast<int>(threadIdx.x); c < ld_chunks; c += blockDim.x)
    *reinterpret_cast<uint2*>(dst + 8 * c) = make_uint2(0U, 0U);
  if (threadIdx.x == 0) out.scale[r] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
}

template <int N>
__global__ void __launch_bounds__(kThreads) gather_quant_vec_kernel(GatherQuantArgs a) {
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / a.tokens_per_batch;
  const std::int64_t t = a.first_token + r % a.tokens_per_batch;
  const bf16* src = static_cast<const bf16*>(a.x) + b * a.stride_batch + t * a.stride_token;
  const int chunks = static_cast<int>(a.heads * a.head_dim / 8);
  const int head_chunks = static_cast<int>(a.head_dim / 8);
  float v[N][8];
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = chunk_of<N>(k);
    if (c < chunks) {
      load8(src + (c / head_chunks) * a.stride_head + 8 * (c % head_chunks), v[k]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) v[k][i] = 0.0F;
    }
  }
  const float amax = block_reduce<true>(chunks_amax<N>(v), scratch);
  write_fp8_chunks<N>(v, chunks, amax, a.out, r);
}

// ---- Row kernels, scalar form (widths that are not a multiple of 8, unaligned rows): the row
// is staged in shared memory as float.

__global__ void __launch_bounds__(kThreads) ln_modulate_quant_scalar_kernel(LnModulateQuantArgs a) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / a.rows_per_batch;
  const std::int64_t w = a.width;
  bf16* x = static_cast<bf16*>(a.x) + r * w;
  const bf16* y = static_cast<const bf16*>(a.y) + r * w;
  const bf16* gate = static_cast<const bf16*>(a.gate.data) + b * a.gate.stride;
  float sum = 0.0F;
  for (std::int64_t j = threadIdx.x; j < w; j += blockDim.x) {
    float v = __bfloat162float(x[j]);
    if (a.residual) {
      const bf16 nv = __float2bfloat16(v + __bfloat162float(gate[j]) * __bfloat162float(y[j]));
      x[j] = nv;
      v = __bfloat162float(nv);
    }
    row[j] = v;
    sum += v;
  }
  const float mean = block_reduce<false>(sum, scratch) / static_cast<float>(w);
  float sq = 0.0F;
  for (std::int64_t j = threadIdx.x; j < w; j += blockDim.x) {
    const float d = row[j] - mean;
    sq += d * d;
  }
  const float rstd = rsqrtf(block_reduce<false>(sq, scratch) / static_cast<float>(w) + kEps);
  const std::int64_t mod = b * a.shift.stride;
  const std::int64_t mods = b * a.scale.stride;
  float amax = 0.0F;
  for (std::int64_t j = threadIdx.x; j < w; j += blockDim.x) {
    const float v =
        (row[j] - mean) * rstd * (1.0F + bf(a.scale.data, mods + j)) + bf(a.shift.data, mod + j);
    row[j] = v;
    amax = fmaxf(amax, fabsf(v));
  }
  amax = block_reduce<true>(amax, scratch);
  write_fp8_row(row, w, amax, a.out, r);
}

__global__ void __launch_bounds__(kThreads)
    gelu_quant_scalar_kernel(const bf16* x, std::int64_t width, Fp8Rows out) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const bf16* src = x + r * width;
  float amax = 0.0F;
  for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x) {
    const float g = gelu_tanh_fast(__bfloat162float(src[j]));
    row[j] = g;
    amax = fmaxf(amax, fabsf(g));
  }
  amax = block_reduce<true>(amax, scratch);
  write_fp8_row(row, width, amax, out, r);
}

__global__ void __launch_bounds__(kThreads) gather_quant_scalar_kernel(GatherQuantArgs a) {
  extern __shared__ float row[];
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / a.tokens_per_batch;
  const std::int64_t t = a.first_token + r % a.tokens_per_batch;
  const bf16* src = static_cast<const bf16*>(a.x) + b * a.stride_batch + t * a.stride_token;
  const std::int64_t width = a.heads * a.head_dim;
  float amax = 0.0F;
  for (std::int64_t j = threadIdx.x; j < width; j += blockDim.x) {
    const std::int64_t h = j / a.head_dim, d = j % a.head_dim;
    const float v = __bfloat162float(src[h * a.stride_head + d]);
    row[j] = v;
    amax = fmaxf(amax, fabsf(v));
  }
  amax = block_reduce<true>(amax, scratch);
  write_fp8_row(row, width, amax, a.out, r);
}

template <bool kVec>
__global__ void gate_residual_kernel(bf16* x, std::int64_t rows, std::int64_t rows_per_batch,
                                     std::int64_t width, const bf16* gate, std::int64_t gate_stride,
                                     const bf16* y) {
  constexpr int kPer = kVec ? 8 : 1;
  const std::int64_t n = rows * width / kPer;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const std::int64_t e = i * kPer;
    const std::int64_t r = e / width, c = e % width;
    const bf16* g = gate + (r / rows_per_batch) * gate_stride + c;
    if constexpr (kVec) {
      *reinterpret_cast<uint4*>(x + e) = gated_residual8(ld16(x + e), ld16(g), ld16(y + e));
    } else {
      x[e] =
          __float2bfloat16(__bfloat162float(x[e]) + __bfloat162float(*g) * __bfloat162float(y[e]));
    }
  }
}

// The token a qkv_pack block handles: its row of fused qkv (image or context projection), where
// its q, k, v rows go, and the RMSNorm weights of its stream.
struct QkvToken {
  const bf16* src;
  std::int64_t dst;
  const float* wq;
  const float* wk;
};

__device__ __forceinline__ QkvToken qkv_token(const QkvPackArgs& a) {
  const std::int64_t tokens = a.img_tokens + a.ctx_tokens;
  const std::int64_t b = blockIdx.x / tokens, t = blockIdx.x % tokens;
  const bool is_img = t < a.img_tokens;
  const std::int64_t d = a.heads * a.head_dim;
  const bf16* src =
      is_img ? static_cast<const bf16*>(a.img) + (b * a.img_tokens + t) * 3 * d
             : static_cast<const bf16*>(a.ctx) + (b * a.ctx_tokens + t - a.img_tokens) * 3 * d;
  return {src, (b * tokens + t) * d, is_img ? a.norm_q : a.norm_ctx_q,
          is_img ? a.norm_k : a.norm_ctx_k};
}

// One block per (batch item, token), vectorised: thread t owns the 16-byte chunks t, t + blockDim,
// ... of the token's [q | k | v] row, loading four before using any. A head's chunks (head_dim / 8
// of them, a power of two up to 32) sit on adjacent lanes of one warp, which add up the head's
// sum of squares by shuffles; every chunk is read once and written once.
__global__ void __launch_bounds__(kThreads) qkv_pack_vec_kernel(QkvPackArgs a) {
  constexpr int kPer = 4;
  const auto [src, dst, wq, wk] = qkv_token(a);
  const int part_chunks = static_cast<int>(a.heads * a.head_dim / 8);
  const int head_chunks = static_cast<int>(a.head_dim / 8);
  const int chunks = 3 * part_chunks;
  float v_max = 0.0F;
  for (int base = 0; base < chunks; base += kPer * static_cast<int>(blockDim.x)) {
    float v[kPer][8];
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int c = base + static_cast<int>(threadIdx.x + k * blockDim.x);
      if (c < chunks) {
        load8(src + 8 * c, v[k]);
      } else {
#pragma unroll
        for (int i = 0; i < 8; ++i) v[k][i] = 0.0F;
      }
    }
#pragma unroll
    for (int k = 0; k < kPer; ++k) {
      const int c = base + static_cast<int>(threadIdx.x + k * blockDim.x);
      float ss = 0.0F;
#pragma unroll
      for (int i = 0; i < 8; ++i) ss += v[k][i] * v[k][i];
      // Every lane shuffles (the loop is uniform); lanes past the row only contribute zeros.
      for (int o = head_chunks / 2; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffU, ss, o);
      if (c >= chunks) continue;
      const int part = c / part_chunks;  // 0 q, 1 k, 2 v
      const int e = 8 * (c - part * part_chunks);
      const float* wt = part == 0 ? wq : (part == 1 ? wk : nullptr);
      if (wt != nullptr) {
        const float rstd = rsqrtf(ss / static_cast<float>(a.head_dim) + kEps);
        const float* w = wt + e % a.head_dim;
#pragma unroll
        for (int i = 0; i < 8; ++i) v[k][i] = v[k][i] * rstd * w[i];
      }
      void* out = part == 0 ? a.q : (part == 1 ? a.k : a.v);
      if (a.fp8_qk && part < 2) {
        store8_fp8(static_cast<unsigned char*>(out) + dst + e, v[k],
                   part == 0 ? a.q_scale : a.k_scale);
        continue;
      }
      store8(static_cast<bf16*>(out) + dst + e, v[k]);
      if (a.fp8_qk) v_max = fmaxf(v_max, max8(v[k]));
    }
  }
  if (a.fp8_qk) {
    // Reduced in the block first: one atomic per token on the single v_amax word, not one per
    // warp (15 % off the kernel at SD3.5 Large's shape: tests/tools/row_kernels_probe.cu).
    __shared__ float scratch[32];
    v_max = block_reduce<true>(v_max, scratch);
    if (threadIdx.x == 0 && v_max > 0.0F)
      atomicMax(reinterpret_cast<int*>(a.v_amax), __float_as_int(v_max));  // >= 0: int order
  }
}

// ---- FP8 attention's inputs and output (fused_kernels.hpp: v_quant, gather_fp8).

__global__ void __launch_bounds__(kThreads)
    v_quant_kernel(const bf16* v, std::int64_t chunks, const float* v_amax, unsigned char* v8,
                   float* scales) {
  const float amax = *v_amax;
  const float inv = amax > 0.0F ? kE4M3Max / amax : 1.0F;
  for (std::int64_t c = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       c < chunks; c += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    float f[8];
    load8(v + 8 * c, f);
    store8_fp8(v8 + 8 * c, f, inv);
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    scales[0] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
    scales[1] = inv;
  }
}

__global__ void __launch_bounds__(kThreads) gather_fp8_kernel(GatherFp8Args a) {
  const std::int64_t r = blockIdx.x;
  const std::int64_t b = r / a.tokens_per_batch;
  const std::int64_t t = a.first_token + r % a.tokens_per_batch;
  const auto* src = static_cast<const uint4*>(a.x) + (b * a.tokens + t) * (a.width / 16);
  auto* dst = reinterpret_cast<uint4*>(static_cast<unsigned char*>(a.out.data) + r * a.out.ld);
  const std::int64_t chunks = a.width / 16, ld_chunks = a.out.ld / 16;
  for (std::int64_t c = threadIdx.x; c < ld_chunks; c += blockDim.x)
    dst[c] = c < chunks ? src[c] : make_uint4(0U, 0U, 0U, 0U);
  if (threadIdx.x == 0) a.out.scale[r] = *a.scale;
}

// The scalar form (head_dim not a multiple of 8, or unaligned rows): warps take (q or k, head)
// units for the per-head RMSNorm, then all threads copy v.
__global__ void __launch_bounds__(kThreads) qkv_pack_kernel(QkvPackArgs a) {
  const auto [src, dst, wq, wk] = qkv_token(a);
  const std::int64_t d = a.heads * a.head_dim;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  for (std::int64_t unit = warp; unit < 2 * a.heads; unit += warps) {
    const bool is_k = unit >= a.heads;
    const std::int64_t h = is_k ? unit - a.heads : unit;
    const bf16* in = src + (is_k ? d : 0) + h * a.head_dim;
    bf16* outp = static_cast<bf16*>(is_k ? a.k : a.q) + dst + h * a.head_dim;
    const float* wt = is_k ? wk : wq;
    float ss = 0.0F;
    for (std::int64_t i = lane; i < a.head_dim; i += 32) {
      const float v = __bfloat162float(in[i]);
      ss += v * v;
    }
    const float rstd = wt ? rsqrtf(warp_sum(ss) / static_cast<float>(a.head_dim) + kEps) : 1.0F;
    for (std::int64_t i = lane; i < a.head_dim; i += 32) {
      const float v = __bfloat162float(in[i]);
      outp[i] = __float2bfloat16(wt ? v * rstd * wt[i] : v);
    }
  }
  const bf16* vin = src + 2 * d;
  bf16* vout = static_cast<bf16*>(a.v) + dst;
  if (d % 8 == 0 && aligned16(vin) && aligned16(vout)) {
    for (std::int64_t i = 8 * threadIdx.x; i < d; i += 8 * blockDim.x)
      *reinterpret_cast<Bf16x8*>(vout + i) = *reinterpret_cast<const Bf16x8*>(vin + i);
  } else {
    for (std::int64_t i = threadIdx.x; i < d; i += blockDim.x) vout[i] = vin[i];
  }
}

// ---- Scaled E4M3 weights to bf16 (fused_kernels.hpp: dequant_e4m3): 16 bytes in, 32 out a thread.

// An E4M3 byte's value as float32 by integer arithmetic. Why not the conversion instructions
// (E4M3x2 -> f16x2 -> f32): they were the kernel's limit, 0.75-0.9 TB/s against 2.8-3.0 TB/s
// for a copy of the same bytes (tests/tools/row_kernels_probe.cu). The exponent is rebiased
// (+120); a subnormal is (1 + m/8) 2^-6 - 2^-6, exact and never a float32 subnormal, so a
// flush-to-zero build gives the same; the two NaN codes give NaN.
__device__ __forceinline__ float e4m3_value(unsigned byte) {
  const unsigned mag = byte & 0x7FU;
  float f = __uint_as_float((mag << 20) + (120U << 23));
  if ((mag >> 3) == 0) f = __uint_as_float((mag << 20) + (121U << 23)) - 0x1p-6F;
  if (mag == 0x7FU) f = __uint_as_float(0x7FC00000U);
  return __uint_as_float(__float_as_uint(f) | ((byte & 0x80U) << 24));
}

__global__ void __launch_bounds__(kThreads)
    dequant_e4m3_kernel(const unsigned char* w, std::int64_t chunks, float scale, bf16* out) {
  for (std::int64_t c = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       c < chunks; c += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    const uint4 in = reinterpret_cast<const uint4*>(w)[c];
    const unsigned words[4] = {in.x, in.y, in.z, in.w};  // the first byte in the low bits
    float f[16];
#pragma unroll
    for (int i = 0; i < 16; ++i)  // the product rounded once, to bf16, as ATen's multiply does
      f[i] = e4m3_value((words[i / 4] >> (8 * (i % 4))) & 0xFFU) * scale;
    store8(out + 16 * c, f);
    store8(out + 16 * c + 8, f + 8);
  }
}

// ---- GroupNorm (+ SiLU) for the VAE decoder (fused_kernels.hpp: group_norm).

// This block's slice of its group: chunks [begin, end) of the group's span.
struct GnSlice {
  std::int64_t group, begin, end;
};

__device__ __forceinline__ GnSlice gn_slice(const GroupNormArgs& a) {
  const std::int64_t span8 = a.channels / a.groups * a.hw / 8;
  const std::int64_t per = (span8 + a.splits - 1) / a.splits;
  const std::int64_t s = blockIdx.x % a.splits;
  const std::int64_t begin = s * per < span8 ? s * per : span8;
  return {blockIdx.x / a.splits, begin, begin + per < span8 ? begin + per : span8};
}

// Sums of (x - pivot) and its square over the slice, the pivot one of its values (so the
// variance does not come from the difference of two large numbers); written as (count, mean, M2).
__global__ void __launch_bounds__(kThreads) group_norm_moments_kernel(GroupNormArgs a) {
  __shared__ float scratch[32];
  const GnSlice sl = gn_slice(a);
  const bf16* x = static_cast<const bf16*>(a.x) + sl.group * (a.channels / a.groups * a.hw);
  const float pivot = sl.begin < sl.end ? bf(x, 8 * sl.begin) : 0.0F;
  float s1 = 0.0F, s2 = 0.0F;
  constexpr int kUnroll = 4;  // four 16-byte loads in flight per thread
  for (std::int64_t c0 = sl.begin + threadIdx.x; c0 < sl.end; c0 += kUnroll * blockDim.x) {
    float f[kUnroll][8];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (c0 + u * blockDim.x < sl.end) load8(x + 8 * (c0 + u * blockDim.x), f[u]);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      if (c0 + u * blockDim.x >= sl.end) continue;
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        const float d = f[u][i] - pivot;
        s1 += d;
        s2 += d * d;
      }
    }
  }
  s1 = block_reduce<false>(s1, scratch);
  s2 = block_reduce<false>(s2, scratch);
  if (threadIdx.x == 0) {
    const auto n = static_cast<float>(8 * (sl.end - sl.begin));
    float* p = a.partials + 3 * static_cast<std::int64_t>(blockIdx.x);
    p[0] = n;
    p[1] = n > 0.0F ? pivot + s1 / n : 0.0F;
    p[2] = n > 0.0F ? fmaxf(0.0F, s2 - s1 * s1 / n) : 0.0F;
  }
}

__device__ __forceinline__ double warp_sum_d(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffU, v, o);
  return v;
}

// The group's mean and 1 / sqrt(var + eps) from its slices' moments (Chan et al.'s combination,
// in double), by the block's first warp.
__device__ void group_stats(const GroupNormArgs& a, std::int64_t group, float* out) {
  const int lane = threadIdx.x & 31;
  const float* p = a.partials + 3 * group * a.splits;
  double n = 0.0, sum = 0.0;
  for (std::int64_t j = lane; j < a.splits; j += 32) {
    n += p[3 * j];
    sum += static_cast<double>(p[3 * j]) * p[3 * j + 1];
  }
  n = warp_sum_d(n);
  const double mean = warp_sum_d(sum) / n;
  double m2 = 0.0;
  for (std::int64_t j = lane; j < a.splits; j += 32) {
    const double d = p[3 * j + 1] - mean;
    m2 += p[3 * j + 2] + p[3 * j] * d * d;
  }
  m2 = warp_sum_d(m2);
  if (lane == 0) {
    out[0] = static_cast<float>(mean);
    out[1] = static_cast<float>(1.0 / sqrt(m2 / n + a.eps));
  }
}

// y = x * (rstd * w) + (b - mean * rstd * w) (ATen's GroupNorm form), then x / (1 + e^-x).
__global__ void __launch_bounds__(kThreads) group_norm_apply_kernel(GroupNormArgs a) {
  __shared__ float stats[2];
  const GnSlice sl = gn_slice(a);
  if (threadIdx.x < 32) group_stats(a, sl.group, stats);
  __syncthreads();
  const float mean = stats[0], rstd = stats[1];
  const std::int64_t per_group = a.channels / a.groups;
  const std::int64_t first_channel = (sl.group % a.groups) * per_group;
  const std::int64_t offset = sl.group * per_group * a.hw;
  const bf16* x = static_cast<const bf16*>(a.x) + offset;
  bf16* y = static_cast<bf16*>(a.y) + offset;
  for (std::int64_t c = sl.begin + threadIdx.x; c < sl.end; c += blockDim.x) {
    const std::int64_t ch = first_channel + 8 * c / a.hw;
    const float scale = rstd * a.weight[ch];
    const float shift = a.bias[ch] - mean * scale;
    float f[8];
    load8(x + 8 * c, f);
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float v = f[i] * scale + shift;
      f[i] = a.silu ? __fdividef(v, 1.0F + __expf(-v)) : v;
    }
    store8(y + 8 * c, f);
  }
}

}  // namespace sd35::smoke::cuda::dev
