// Launch geometry and argument checks of the fused kernels, shared by the nvcc launcher
// (fused_kernels.cu) and the NVRTC launcher (fused_nvrtc.cpp) so both run the kernels alike.
// Plain C++: no CUDA headers.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "smoke/cuda/fused_kernels.hpp"

namespace sd35::smoke::cuda::launch {

inline constexpr unsigned kThreads = 256;  // dev::kThreads
inline constexpr int kInvalidValue = 1;    // cudaErrorInvalidValue

struct Plan {
  int status = 0;     // non-zero: refuse with this error
  bool skip = false;  // nothing to do
  bool vec = false;   // the 16-byte (8 x bf16) variant
  unsigned grid = 0;
  unsigned block = kThreads;
  std::size_t smem = 0;
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

inline Plan rows_plan(std::int64_t rows, std::int64_t width, bool vec) {
  return Plan{0, false, vec, static_cast<unsigned>(rows), kThreads, row_smem(width)};
}

inline Plan ln_modulate_quant(const LnModulateQuantArgs& a) {
  if (a.rows == 0) return nothing();
  if (bad_rows(a.width, a.out) || a.rows_per_batch <= 0 || (a.residual && (!a.y || !a.gate.data)))
    return refuse();
  const bool vec =
      a.width % 8 == 0 && aligned16(a.x) &&
      (!a.residual || (aligned16(a.y) && aligned16(a.gate.data) && a.gate.stride % 8 == 0));
  return rows_plan(a.rows, a.width, vec);
}

inline Plan gelu_quant(const void* x, std::int64_t rows, std::int64_t width, const Fp8Rows& out) {
  if (rows == 0) return nothing();
  if (bad_rows(width, out)) return refuse();
  return rows_plan(rows, width, width % 8 == 0 && aligned16(x));
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

inline Plan qkv_pack(const QkvPackArgs& a) {
  const std::int64_t blocks = a.batch * (a.img_tokens + a.ctx_tokens);
  if (blocks == 0) return nothing();
  if (a.heads <= 0 || a.head_dim <= 0 || (a.ctx_tokens > 0 && !a.ctx)) return refuse();
  return Plan{0, false, false, static_cast<unsigned>(blocks), kThreads, 0};
}

}  // namespace sd35::smoke::cuda::launch
