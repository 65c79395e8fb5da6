// Launch geometry and argument checks of the fused kernels, shared by the nvcc launcher
// (fused_kernels.cu) and the NVRTC launcher (fused_nvrtc.cpp) so both run the kernels alike.
// Plain C++: no CUDA headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "smoke/cuda/fused_kernels.hpp"

namespace sd35::smoke::cuda::launch {

inline constexpr unsigned kThreads = 256;      // dev::kThreads
inline constexpr unsigned kGeluThreads = 320;  // dev::kGeluThreads
inline constexpr int kInvalidValue = 1;        // cudaErrorInvalidValue

struct Plan {
  int status = 0;     // non-zero: refuse with this error
  bool skip = false;  // nothing to do
  bool vec = false;   // the 16-byte (8 x bf16) variant
  unsigned grid = 0;
  unsigned block = kThreads;
  std::size_t smem = 0;
  int per_thread = 0;  // vectorised row kernels: 16-byte chunks per thread (2, 4 or 8)
};

inline bool aligned16(const void* p) {
  return (reinterpret_cast<std::uintptr_t>(p) & 15U) == 0;
}

inline std::size_t row_smem(std::int64_t width) {
  return static_cast<std::size_t>(width) * sizeof(float);
}

inline bool bad_rows(std::int64_t width, const Fp8Rows& out) {
  return width <= 0 || width > kMaxRowWidth || out.ld < width || out.ld % 16 != 0 ||
         !aligned16(out.data);
}

inline Plan refuse() {
  return Plan{kInvalidValue};
}
inline Plan nothing() {
  return Plan{0, true};
}

// The scalar row kernels: one block of kThreads per row, the row staged in shared memory.
inline Plan scalar_rows_plan(std::int64_t rows, std::int64_t width) {
  return Plan{0, false, false, static_cast<unsigned>(rows), kThreads, row_smem(width)};
}

// The vectorised row kernels keep the row in registers: the fewest chunks per thread (2, 4 or 8)
// that fit the row in `max_threads` threads, and a whole number of warps (SD3.5 Large: 2432 wide
// is 2 x 160 threads).
inline Plan vec_rows_plan(std::int64_t rows, std::int64_t width, unsigned max_threads = kThreads) {
  const std::int64_t chunks = width / 8;
  int n = 2;
  while (n < 8 && (chunks + n - 1) / n > std::int64_t{max_threads}) n *= 2;
  const std::int64_t threads = ((chunks + n - 1) / n + 31) / 32 * 32;
  return Plan{0, false, true, static_cast<unsigned>(rows), static_cast<unsigned>(threads), 0, n};
}

inline Plan rows_plan(std::int64_t rows, std::int64_t width, bool vec) {
  return vec ? vec_rows_plan(rows, width) : scalar_rows_plan(rows, width);
}

inline Plan ln_modulate_quant(const LnModulateQuantArgs& a) {
  if (a.rows == 0) return nothing();
  if (bad_rows(a.width, a.out) || a.rows_per_batch <= 0 || (a.residual && (!a.y || !a.gate.data)))
    return refuse();
  auto vec_ok = [](const BatchVector& v) { return aligned16(v.data) && v.stride % 8 == 0; };
  const bool vec = a.width % 8 == 0 && aligned16(a.x) && vec_ok(a.shift) && vec_ok(a.scale) &&
                   (!a.residual || (aligned16(a.y) && vec_ok(a.gate)));
  return rows_plan(a.rows, a.width, vec);
}

// gelu_quant holds its row as bf16 (half the registers), so its blocks may be wider: 9728 is
// 4 x 304 threads, measured faster than 8 x 152 (tests/tools/row_kernels_probe.cu).
inline Plan gelu_quant(const void* x, std::int64_t rows, std::int64_t width, const Fp8Rows& out) {
  if (rows == 0) return nothing();
  if (bad_rows(width, out)) return refuse();
  if (width % 8 != 0 || !aligned16(x)) return scalar_rows_plan(rows, width);
  return vec_rows_plan(rows, width, kGeluThreads);
}

inline Plan gather_quant(const GatherQuantArgs& a) {
  const std::int64_t rows = a.batch * a.tokens_per_batch;
  if (rows == 0) return nothing();
  const std::int64_t width = a.heads * a.head_dim;
  if (bad_rows(width, a.out)) return refuse();
  const bool vec = a.head_dim % 8 == 0 && a.stride_batch % 8 == 0 && a.stride_token % 8 == 0 &&
                   a.stride_head % 8 == 0 && aligned16(a.x);
  return rows_plan(rows, width, vec);
}

inline Plan gate_residual(const void* x, std::int64_t rows, std::int64_t rows_per_batch,
                          std::int64_t width, const BatchVector& gate, const void* y) {
  if (rows == 0) return nothing();
  if (rows_per_batch <= 0 || width <= 0) return refuse();
  const bool vec = width % 8 == 0 && gate.stride % 8 == 0 && aligned16(x) && aligned16(y) &&
                   aligned16(gate.data);
  const std::int64_t work = rows * width / (vec ? 8 : 1);
  // A grid-stride loop: enough blocks to fill an H100/H200 (132 SMs) 32 deep, no more.
  const auto grid = static_cast<unsigned>(
      std::min<std::int64_t>((work + kThreads - 1) / kThreads, std::int64_t{132} * 32));
  return Plan{0, false, vec, grid, kThreads, 0};
}

// The vectorised form needs whole 16-byte chunks per head, a head's chunks a power of two up to a
// warp (head_dim 16, 32, 64, 128 or 256; SD3.5 has 64), and aligned rows.
inline Plan qkv_pack(const QkvPackArgs& a) {
  const std::int64_t blocks = a.batch * (a.img_tokens + a.ctx_tokens);
  if (blocks == 0) return nothing();
  if (a.heads <= 0 || a.head_dim <= 0 || (a.ctx_tokens > 0 && !a.ctx)) return refuse();
  const std::int64_t head_chunks = a.head_dim / 8;
  const bool vec = a.head_dim % 8 == 0 && head_chunks <= 32 &&
                   (head_chunks & (head_chunks - 1)) == 0 && aligned16(a.img) &&
                   (a.ctx_tokens == 0 || aligned16(a.ctx)) && aligned16(a.q) && aligned16(a.k) &&
                   aligned16(a.v);
  if (a.fp8_qk && (!vec || a.v_amax == nullptr)) return refuse();  // FP8 q/k: vectorised only
  return Plan{0, false, vec, static_cast<unsigned>(blocks), kThreads, 0};
}

inline Plan v_quant(const void* v, std::int64_t count, const void* v8) {
  if (count == 0) return nothing();
  if (count % 8 != 0 || !aligned16(v) || (reinterpret_cast<std::uintptr_t>(v8) & 7U) != 0)
    return refuse();
  const std::int64_t blocks = (count / 8 + kThreads - 1) / kThreads;
  return Plan{
      0,        false,
      true,     static_cast<unsigned>(std::min<std::int64_t>(blocks, std::int64_t{132} * 32)),
      kThreads, 0};
}

inline Plan gather_fp8(const GatherFp8Args& a) {
  const std::int64_t rows = a.batch * a.tokens_per_batch;
  if (rows == 0) return nothing();
  if (a.width % 16 != 0 || a.out.ld < a.width || a.out.ld % 16 != 0 || !aligned16(a.x) ||
      !aligned16(a.out.data) || a.scale == nullptr || a.first_token + a.tokens_per_batch > a.tokens)
    return refuse();
  return Plan{0, false, true, static_cast<unsigned>(rows), kThreads, 0};
}

inline Plan dequant_e4m3(const void* w, std::int64_t count, const void* out) {
  if (count == 0) return nothing();
  if (count % 16 != 0 || !aligned16(w) || !aligned16(out)) return refuse();
  // One 16-byte chunk a thread: a T5-XXL FFN weight (4096 x 10240) took 102.5 us so against
  // 167.6 with the grid capped at 132 x 32 blocks and a grid-stride loop (the H200, L2-cold,
  // tests/tools/row_kernels_probe.cu). The loop stays for a tensor beyond 2^20 blocks.
  const std::int64_t blocks = (count / 16 + kThreads - 1) / kThreads;
  return Plan{0,        false, true, static_cast<unsigned>(std::min<std::int64_t>(blocks, 1 << 20)),
              kThreads, 0};
}

// One block per slice of a group, for both GroupNorm kernels.
inline Plan group_norm(const GroupNormArgs& a) {
  const std::int64_t blocks = a.batch * a.groups * a.splits;
  if (a.batch == 0 || a.hw == 0) return nothing();
  if (a.groups <= 0 || a.channels % a.groups != 0 || a.hw % 8 != 0 || a.splits <= 0 ||
      !aligned16(a.x) || !aligned16(a.y) || !a.weight || !a.bias || !a.partials)
    return refuse();
  return Plan{0, false, true, static_cast<unsigned>(blocks), kThreads, 0};
}

}  // namespace sd35::smoke::cuda::launch
