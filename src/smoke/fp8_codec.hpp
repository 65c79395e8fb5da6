// Bit-exact FP8 codecs (E4M3FN and E5M2) matching PyTorch's float -> float8 conversion
// (c10/util/Float8_e4m3fn.h, Float8_e5m2.h): round to nearest, ties to even; no saturation.
// Torch-free so that the loaders, the tests and a libtorch without float8 (1.13) share it.
//
// E4M3FN: bias 7, no infinities, NaN = 0x7F/0xFF, max finite 448. |x| > 464 (the midpoint between
//         448 and the would-be 480) and +-inf become NaN (0x7F | sign), exactly as torch does.
// E5M2:   bias 15, IEEE-like. |x| >= 61440 rounds to +-inf (0x7C), NaN -> 0x7F | sign.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace sd35::smoke::fp8 {

inline constexpr float kE4M3Max = 448.0F;
inline constexpr float kE5M2Max = 57344.0F;

std::uint8_t encode_e4m3fn(float value) noexcept;
float decode_e4m3fn(std::uint8_t code) noexcept;
std::uint8_t encode_e5m2(float value) noexcept;
float decode_e5m2(std::uint8_t code) noexcept;

// Bulk helpers (the loaders dequantise and quantise whole tensors with these).
void decode_e4m3fn(std::span<const std::uint8_t> in, std::span<float> out) noexcept;
void decode_e5m2(std::span<const std::uint8_t> in, std::span<float> out) noexcept;
void encode_e4m3fn(std::span<const float> in, std::span<std::uint8_t> out) noexcept;

// Per-tensor scale that maps the tensor's abs-max onto the E4M3 range (1.0 for an all-zero tensor).
float e4m3_scale_for_absmax(float absmax) noexcept;

}  // namespace sd35::smoke::fp8
