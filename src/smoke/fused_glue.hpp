// What the torch glue of the fused kernels (mmdit_fused.cpp, fused_attention.cpp) shares: the
// stream they launch on, their error check, and the E4M3 rows they produce. TORCH HEADER:
// include only from src/smoke/*.cpp, and only under SD35_FUSED_PATH.
#pragma once

#include <ATen/cuda/CUDAContext.h>

#include <cstdint>

#include "smoke/cuda/fused_kernels.hpp"
#include "smoke/mmdit_fused.hpp"

namespace sd35::smoke::fused::glue {

inline void* stream() {
  return at::cuda::getCurrentCUDAStream().stream();
}

inline void check(int rc, const char* what) {
  TORCH_CHECK(rc == 0, "fused kernel ", what, " failed: ", cuda::error_text(rc));
}

// [rows, ld] E4M3 and [rows, 1] float scales on `like`'s device.
inline Fp8Act alloc_rows(const at::Tensor& like, std::int64_t rows, std::int64_t ld) {
  TORCH_CHECK(ld % 16 == 0, "FP8 row stride ", ld, " is not a multiple of 16");
  return {at::empty({rows, ld}, like.options().dtype(at::kFloat8_e4m3fn)),
          at::empty({rows, 1}, like.options().dtype(at::kFloat))};
}

inline cuda::Fp8Rows rows_of(Fp8Act& a) {
  return {a.q.data_ptr(), a.scale.data_ptr<float>(), a.q.size(1)};
}

}  // namespace sd35::smoke::fused::glue
