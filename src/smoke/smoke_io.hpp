// Torch-free helpers of the smoke test (implemented in smoke_io.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "smoke/smoke.hpp"

namespace sd35::smoke {

// Writes F32 tensors as a safetensors file (atomically).
Status write_f32_safetensors(const std::string& file,
                             const std::vector<std::pair<std::string, const Tensor32*>>& tensors);
// The same with I64 tensors after the F32 ones (token ids in the pipeline's dump).
Status write_safetensors(const std::string& file,
                         const std::vector<std::pair<std::string, const Tensor32*>>& f32,
                         const std::vector<std::pair<std::string, const TensorI64*>>& i64);
// sha256 of the values rounded to multiples of `grid`: stable under tiny numeric noise.
std::string fingerprint(const std::vector<float>& values, double grid);
// Peak resident set size of this process (VmHWM), 0 when unknown.
std::uint64_t peak_rss_bytes();

}  // namespace sd35::smoke
