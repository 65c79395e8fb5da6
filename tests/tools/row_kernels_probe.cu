// GPU box: the fused row kernels (src/smoke/cuda/fused_kernels_device.cuh) at SD3.5 Large's
// shapes against restructured variants and a pure-bandwidth copy of the same bytes, each variant
// checked against the plugin kernel's output, so a change to the row kernels is chosen by
// measurement:
//   nvcc -std=c++17 -O3 -arch=sm_90 -Isrc tests/tools/row_kernels_probe.cu -o /tmp/rk && /tmp/rk
// Shapes: gelu_quant 8192 x 9728 (the image lane's MLP row, CFG batch 2 x 4096 tokens);
// gate + residual + LayerNorm + modulate + quantise 8192 x 2432; qkv_pack 2 x (4096 + 333) tokens
// of 38 heads x 64 with FP8 q/k.
#include <cuda_runtime.h>

#include <cstdio>
#include <cstring>
#include <vector>

#include "smoke/cuda/fused_kernels_device.cuh"

using namespace sd35::smoke::cuda;
using namespace sd35::smoke::cuda::dev;

namespace {

__device__ __forceinline__ uint4 ld16(const bf16* p) {
  return *reinterpret_cast<const uint4*>(p);
}

__device__ __forceinline__ void unpack8(const uint4& u, float* f) {
  const auto* h = reinterpret_cast<const __nv_bfloat162*>(&u);
  for (int i = 0; i < 4; ++i) {
    const float2 t = __bfloat1622float2(h[i]);
    f[2 * i] = t.x;
    f[2 * i + 1] = t.y;
  }
}

__device__ __forceinline__ uint4 pack8(const float* f) {
  uint4 u;
  auto* h = reinterpret_cast<__nv_bfloat162*>(&u);
  for (int i = 0; i < 4; ++i) h[i] = __floats2bfloat162_rn(f[2 * i], f[2 * i + 1]);
  return u;
}

// ---- LayerNorm variant: one warp per row, the row held as its bf16 bytes (exact: the residual
// sum is rounded to bf16 anyway), the modulated value computed twice (amax, then the store)
// with shift/scale re-read from L1. No __syncthreads; several rows per SM in flight.
template <int N, int kMinBlocks = 1>
__global__ void __launch_bounds__(128, kMinBlocks) ln_warp(LnModulateQuantArgs a) {
  const int lane = threadIdx.x & 31;
  const std::int64_t r = blockIdx.x * (blockDim.x / 32) + (threadIdx.x >> 5);
  if (r >= a.rows) return;
  const std::int64_t b = r / a.rows_per_batch;
  const int chunks = static_cast<int>(a.width / 8);
  bf16* x = static_cast<bf16*>(a.x) + r * a.width;
  uint4 h[N];
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = lane + 32 * k;
    h[k] = c < chunks ? ld16(x + 8 * c) : make_uint4(0U, 0U, 0U, 0U);
  }
  if (a.residual) {
    const bf16* y = static_cast<const bf16*>(a.y) + r * a.width;
    const bf16* g = static_cast<const bf16*>(a.gate.data) + b * a.gate.stride;
    uint4 yv[N];
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const int c = lane + 32 * k;
      if (c < chunks) yv[k] = ld16(y + 8 * c);
    }
#pragma unroll
    for (int k = 0; k < N; ++k) {
      const int c = lane + 32 * k;
      if (c >= chunks) continue;
      float xf[8], gf[8], yf[8];
      unpack8(h[k], xf);
      unpack8(ld16(g + 8 * c), gf);
      unpack8(yv[k], yf);
#pragma unroll
      for (int i = 0; i < 8; ++i) xf[i] = __bfloat162float(__float2bfloat16(xf[i] + gf[i] * yf[i]));
      h[k] = pack8(xf);
      *reinterpret_cast<uint4*>(x + 8 * c) = h[k];
    }
  }
  float s = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    float f[8];
    unpack8(h[k], f);
#pragma unroll
    for (int i = 0; i < 8; ++i) s += f[i];
  }
  const float w = static_cast<float>(a.width);
  const float mean = warp_sum(s) / w;
  float sq = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    if (lane + 32 * k >= chunks) continue;
    float f[8];
    unpack8(h[k], f);
#pragma unroll
    for (int i = 0; i < 8; ++i) sq += (f[i] - mean) * (f[i] - mean);
  }
  const float rstd = rsqrtf(warp_sum(sq) / w + kEps);
  const bf16* sc = static_cast<const bf16*>(a.scale.data) + b * a.scale.stride;
  const bf16* sh = static_cast<const bf16*>(a.shift.data) + b * a.shift.stride;
  auto modulated = [&](int k, float* o) {
    const int c = lane + 32 * k;
    float f[8], scf[8], shf[8];
    unpack8(h[k], f);
    unpack8(ld16(sc + 8 * c), scf);
    unpack8(ld16(sh + 8 * c), shf);
#pragma unroll
    for (int i = 0; i < 8; ++i) o[i] = (f[i] - mean) * rstd * (1.0F + scf[i]) + shf[i];
  };
  float m = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    if (lane + 32 * k >= chunks) continue;
    float o[8];
    modulated(k, o);
    m = fmaxf(m, max8(o));
  }
  const float amax = warp_max(m);
  const float inv = amax > 0.0F ? kE4M3Max / amax : 0.0F;
  auto* dst = static_cast<unsigned char*>(a.out.data) + r * a.out.ld;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = lane + 32 * k;
    if (c >= chunks) continue;
    float o[8];
    modulated(k, o);
    store8_fp8(dst + 8 * c, o, inv);
  }
  const int ld_chunks = static_cast<int>(a.out.ld / 8);
  for (int c = chunks + lane; c < ld_chunks; c += 32)
    *reinterpret_cast<uint2*>(dst + 8 * c) = make_uint2(0U, 0U);
  if (lane == 0) a.out.scale[r] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
}

// ---- GELU variant: one block per row, the input held as its bf16 bytes (N chunks a thread), GELU
// computed twice (amax, then the store): half the registers of the f32-held row, bit-identical.
template <int N, int kBlock>
__global__ void __launch_bounds__(kBlock)
    gelu_recompute(const bf16* x, std::int64_t width, Fp8Rows out) {
  __shared__ float scratch[32];
  const std::int64_t r = blockIdx.x;
  const int chunks = static_cast<int>(width / 8);
  uint4 h[N];
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = threadIdx.x + k * kBlock;
    h[k] = c < chunks ? ld16(x + r * width + 8 * c) : make_uint4(0U, 0U, 0U, 0U);
  }
  float m = 0.0F;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    float f[8];
    unpack8(h[k], f);
#pragma unroll
    for (int i = 0; i < 8; ++i) m = fmaxf(m, fabsf(gelu_tanh_fast(f[i])));
  }
  const float amax = block_reduce<true>(m, scratch);
  const float inv = amax > 0.0F ? kE4M3Max / amax : 0.0F;
  auto* dst = static_cast<unsigned char*>(out.data) + r * out.ld;
#pragma unroll
  for (int k = 0; k < N; ++k) {
    const int c = threadIdx.x + k * kBlock;
    if (c >= chunks) continue;
    float f[8];
    unpack8(h[k], f);
#pragma unroll
    for (int i = 0; i < 8; ++i) f[i] = gelu_tanh_fast(f[i]);
    store8_fp8(dst + 8 * c, f, inv);
  }
  const int ld_chunks = static_cast<int>(out.ld / 8);
  for (int c = chunks + static_cast<int>(threadIdx.x); c < ld_chunks; c += kBlock)
    *reinterpret_cast<uint2*>(dst + 8 * c) = make_uint2(0U, 0U);
  if (threadIdx.x == 0) out.scale[r] = amax > 0.0F ? amax / kE4M3Max : 1.0F;
}

// ---- qkv_pack variant: the plugin kernel with max |v| reduced in the block first, so one atomic
// per token goes to the single v_amax word instead of one per warp.
__global__ void __launch_bounds__(kThreads) qkv_pack_block_amax(QkvPackArgs a) {
  __shared__ float scratch[32];
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
      for (int o = head_chunks / 2; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffU, ss, o);
      if (c >= chunks) continue;
      const int part = c / part_chunks;
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
    v_max = block_reduce<true>(v_max, scratch);
    if (threadIdx.x == 0 && v_max > 0.0F)
      atomicMax(reinterpret_cast<int*>(a.v_amax), __float_as_int(v_max));
  }
}

// Pure bandwidth: `in_streams` 16-byte reads and `out_streams` 16-byte writes per item, plus
// `fp8_out` 8-byte writes (the same bytes as the kernel under test).
__global__ void stream_bytes(const uint4* a, const uint4* b, uint4* c, uint2* d, std::int64_t n,
                             bool two_in, bool bf16_out) {
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x) {
    uint4 v = a[i];
    if (two_in) {
      const uint4 w = b[i];
      v.x ^= w.x;
      v.y ^= w.y;
      v.z ^= w.z;
      v.w ^= w.w;
    }
    if (bf16_out) c[i] = v;
    d[i] = make_uint2(v.x ^ v.y, v.z ^ v.w);
  }
}

struct Timer {
  cudaEvent_t a, b;
  Timer() {
    cudaEventCreate(&a);
    cudaEventCreate(&b);
  }
  template <class F>
  double us(F&& launch, int reps = 50) {
    for (int i = 0; i < 3; ++i) launch();
    cudaEventRecord(a);
    for (int i = 0; i < reps; ++i) launch();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    return 1000.0 * ms / reps;
  }
};

void report(const char* family, const char* name, double us, double bytes) {
  std::printf("%s probe %-58s %7.1f us  %5.2f TB/s  (%s)\n", family, name, us, bytes / us / 1e6,
              cudaGetErrorString(cudaGetLastError()));
}

void random_bf16(bf16* dst, std::int64_t n, unsigned seed, float spread) {
  std::vector<bf16> h(n);
  for (auto& v : h) {
    seed = seed * 1664525U + 1013904223U;
    v = __float2bfloat16(((seed >> 8) / 16777216.0F - 0.5F) * spread);
  }
  cudaMemcpy(dst, h.data(), n * 2, cudaMemcpyHostToDevice);
}

template <class T>
std::vector<T> host(const T* d, std::int64_t n) {
  std::vector<T> h(n);
  cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost);
  return h;
}

double differ_share(const std::vector<unsigned char>& a, const std::vector<unsigned char>& b) {
  std::int64_t d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += a[i] != b[i] ? 1 : 0;
  return 100.0 * static_cast<double>(d) / static_cast<double>(a.size());
}

double max_rel(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = a[i] - b[i], s = a[i] != 0 ? a[i] : 1;
    m = std::max(m, std::fabs(d / s));
  }
  return m;
}

void gelu_probe(Timer& t) {
  const std::int64_t rows = 8192, width = 9728, n = rows * width;
  bf16* x;
  unsigned char *o1, *o2;
  float *s1, *s2;
  cudaMalloc(&x, n * 2);
  cudaMalloc(&o1, n);
  cudaMalloc(&o2, n);
  cudaMalloc(&s1, rows * 4);
  cudaMalloc(&s2, rows * 4);
  random_bf16(x, n, 1, 8.0F);
  Fp8Rows out1{o1, s1, width}, out2{o2, s2, width};
  const double bytes = 3.0 * n;
  report("gelu_quant", "plugin kernel (f32 held, N=8, 160 threads)",
         t.us([&] { gelu_quant_vec_kernel<8><<<rows, 160>>>(x, width, out1); }), bytes);
  const auto want = host(o1, n);
  auto check = [&](const char* name) {
    std::printf("gelu_quant probe %-58s bytes differing %.4f %%, scales max rel %.2e\n", name,
                differ_share(want, host(o2, n)), max_rel(host(s1, rows), host(s2, rows)));
  };
  report("gelu_quant", "bf16 held + recompute, N=10, 128 threads",
         t.us([&] { gelu_recompute<10, 128><<<rows, 128>>>(x, width, out2); }), bytes);
  check("  (N=10, 128 threads)");
  report("gelu_quant", "bf16 held + recompute, N=8, 160 threads",
         t.us([&] { gelu_recompute<8, 160><<<rows, 160>>>(x, width, out2); }), bytes);
  check("  (N=8, 160 threads)");
  report("gelu_quant", "bf16 held + recompute, N=4, 320 threads",
         t.us([&] { gelu_recompute<4, 320><<<rows, 320>>>(x, width, out2); }), bytes);
  check("  (N=4, 320 threads)");
  report("gelu_quant", "bf16 held + recompute, N=5, 256 threads",
         t.us([&] { gelu_recompute<5, 256><<<rows, 256>>>(x, width, out2); }), bytes);
  check("  (N=5, 256 threads)");
  report("gelu_quant", "bf16 held + recompute, N=2, 608 threads",
         t.us([&] { gelu_recompute<2, 608><<<rows, 608>>>(x, width, out2); }), bytes);
  check("  (N=2, 608 threads)");
  report("gelu_quant", "copy 2 bytes in -> 1 out (bandwidth)", t.us([&] {
    stream_bytes<<<132 * 8, 256>>>(reinterpret_cast<const uint4*>(x), nullptr, nullptr,
                                   reinterpret_cast<uint2*>(o2), n / 8, false, false);
  }),
         bytes);
  cudaFree(x);
  cudaFree(o1);
  cudaFree(o2);
  cudaFree(s1);
  cudaFree(s2);
}

void ln_probe(Timer& t, std::int64_t rows_per_batch, const char* label) {
  const std::int64_t batch = 2, rows = batch * rows_per_batch, width = 2432, n = rows * width;
  bf16 *x, *x0, *y, *mod;
  unsigned char *o1, *o2;
  float *s1, *s2;
  cudaMalloc(&x, n * 2);
  cudaMalloc(&x0, n * 2);
  cudaMalloc(&y, n * 2);
  cudaMalloc(&mod, batch * 6 * width * 2);
  cudaMalloc(&o1, n);
  cudaMalloc(&o2, n);
  cudaMalloc(&s1, rows * 4);
  cudaMalloc(&s2, rows * 4);
  random_bf16(x0, n, 2, 6.0F);
  random_bf16(y, n, 3, 4.0F);
  random_bf16(mod, batch * 6 * width, 4, 1.0F);
  LnModulateQuantArgs a;
  a.x = x;
  a.rows = rows;
  a.rows_per_batch = rows_per_batch;
  a.width = width;
  a.shift = {mod, 6 * width};
  a.scale = {mod + width, 6 * width};
  a.residual = true;
  a.gate = {mod + 2 * width, 6 * width};
  a.y = y;
  a.out = {o1, s1, width};
  LnModulateQuantArgs a2 = a;
  a2.out = {o2, s2, width};
  const double bytes = 7.0 * n;  // x, y read; x written (bf16); fp8 written
  char name[128];
  cudaMemcpy(x, x0, n * 2, cudaMemcpyDeviceToDevice);
  ln_modulate_quant_vec_kernel<2><<<rows, 160>>>(a);
  const auto want = host(o1, n);
  const auto want_x = host(reinterpret_cast<unsigned short*>(x), n);
  cudaMemcpy(x, x0, n * 2, cudaMemcpyDeviceToDevice);
  ln_warp<10><<<(rows + 3) / 4, 128>>>(a2);
  const bool same_x = host(reinterpret_cast<unsigned short*>(x), n) == want_x;
  std::snprintf(name, sizeof name, "%s: plugin kernel (block per row, N=2, 160 threads)", label);
  report("ln_modulate_quant", name,
         t.us([&] { ln_modulate_quant_vec_kernel<2><<<rows, 160>>>(a); }), bytes);
  std::snprintf(name, sizeof name, "%s: warp per row, bf16 held, N=10, 4 rows a block", label);
  report("ln_modulate_quant", name, t.us([&] { ln_warp<10><<<(rows + 3) / 4, 128>>>(a2); }), bytes);
  std::snprintf(name, sizeof name, "%s: the same, registers capped for 6 blocks a SM", label);
  report("ln_modulate_quant", name, t.us([&] { ln_warp<10, 6><<<(rows + 3) / 4, 128>>>(a2); }),
         bytes);
  std::printf(
      "ln_modulate_quant probe %s warp per row vs plugin: residual identical %s, fp8 bytes "
      "differing %.4f %%, scales max rel %.2e\n",
      label, same_x ? "yes" : "NO", differ_share(want, host(o2, n)),
      max_rel(host(s1, rows), host(s2, rows)));
  std::snprintf(name, sizeof name, "%s: copy x,y -> x, fp8 (bandwidth)", label);
  report("ln_modulate_quant", name, t.us([&] {
    stream_bytes<<<132 * 8, 256>>>(reinterpret_cast<const uint4*>(x),
                                   reinterpret_cast<const uint4*>(y), reinterpret_cast<uint4*>(x),
                                   reinterpret_cast<uint2*>(o2), n / 8, true, true);
  }),
         bytes);
  for (void* p : {static_cast<void*>(x), static_cast<void*>(x0), static_cast<void*>(y),
                  static_cast<void*>(mod), static_cast<void*>(o1), static_cast<void*>(o2),
                  static_cast<void*>(s1), static_cast<void*>(s2)})
    cudaFree(p);
}

void qkv_probe(Timer& t) {
  const std::int64_t batch = 2, img = 4096, ctx = 333, heads = 38, hd = 64, d = heads * hd;
  const std::int64_t tokens = batch * (img + ctx);
  bf16 *pi, *pc, *v1, *v2;
  unsigned char *q1, *k1, *q2, *k2;
  float *norms, *amax;
  cudaMalloc(&pi, batch * img * 3 * d * 2);
  cudaMalloc(&pc, batch * ctx * 3 * d * 2);
  cudaMalloc(&v1, tokens * d * 2);
  cudaMalloc(&v2, tokens * d * 2);
  cudaMalloc(&q1, tokens * d);
  cudaMalloc(&k1, tokens * d);
  cudaMalloc(&q2, tokens * d);
  cudaMalloc(&k2, tokens * d);
  cudaMalloc(&norms, 4 * hd * 4);
  cudaMalloc(&amax, 2 * 4);
  random_bf16(pi, batch * img * 3 * d, 5, 4.0F);
  random_bf16(pc, batch * ctx * 3 * d, 6, 4.0F);
  std::vector<float> w(4 * hd);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = 0.5F + static_cast<float>(i % 7) / 7.0F;
  cudaMemcpy(norms, w.data(), w.size() * 4, cudaMemcpyHostToDevice);
  cudaMemset(amax, 0, 8);
  QkvPackArgs a;
  a.img = pi;
  a.ctx = pc;
  a.batch = batch;
  a.img_tokens = img;
  a.ctx_tokens = ctx;
  a.heads = heads;
  a.head_dim = hd;
  a.norm_q = norms;
  a.norm_k = norms + hd;
  a.norm_ctx_q = norms + 2 * hd;
  a.norm_ctx_k = norms + 3 * hd;
  a.q = q1;
  a.k = k1;
  a.v = v1;
  a.fp8_qk = true;
  a.q_scale = 448.0F / 8.0F / 1.5F;
  a.k_scale = a.q_scale;
  a.v_amax = amax;
  QkvPackArgs a2 = a;
  a2.q = q2;
  a2.k = k2;
  a2.v = v2;
  a2.v_amax = amax + 1;
  const double bytes = static_cast<double>(tokens) * d * (6 + 1 + 1 + 2);
  report("qkv_pack", "plugin kernel (one atomic per warp)",
         t.us([&] { qkv_pack_vec_kernel<<<tokens, kThreads>>>(a); }), bytes);
  report("qkv_pack", "max |v| reduced in the block (one atomic per token)",
         t.us([&] { qkv_pack_block_amax<<<tokens, kThreads>>>(a2); }), bytes);
  const auto am = host(amax, 2);
  std::printf("qkv_pack probe block-amax vs plugin: q %s, k %s, v %s, v_amax %g vs %g\n",
              host(q1, tokens * d) == host(q2, tokens * d) ? "identical" : "DIFFER",
              host(k1, tokens * d) == host(k2, tokens * d) ? "identical" : "DIFFER",
              host(reinterpret_cast<unsigned short*>(v1), tokens * d) ==
                      host(reinterpret_cast<unsigned short*>(v2), tokens * d)
                  ? "identical"
                  : "DIFFER",
              am[0], am[1]);
  for (void* p : {static_cast<void*>(pi), static_cast<void*>(pc), static_cast<void*>(v1),
                  static_cast<void*>(v2), static_cast<void*>(q1), static_cast<void*>(k1),
                  static_cast<void*>(q2), static_cast<void*>(k2), static_cast<void*>(norms),
                  static_cast<void*>(amax)})
    cudaFree(p);
}

}  // namespace

int main() {
  Timer t;
  gelu_probe(t);
  ln_probe(t, 4096, "image rows");
  ln_probe(t, 333, "context rows");
  qkv_probe(t);
  return 0;
}
