#include "smoke/fp8_codec.hpp"

#include <array>
#include <bit>
#include <cmath>
#include <limits>

namespace sd35::smoke::fp8 {
namespace {

std::uint32_t bits(float f) noexcept {
  return std::bit_cast<std::uint32_t>(f);
}
float from_bits(std::uint32_t b) noexcept {
  return std::bit_cast<float>(b);
}

// Both formats follow the same recipe as torch: subnormal results come from adding a magic
// constant in float (the FPU does the ties-to-even rounding), normal results from an integer
// add of half an ulp minus one plus the kept mantissa's lowest bit (ties to even again).
template <int kMantBits, int kBias>
std::uint8_t encode_normal_or_subnormal(std::uint32_t f_bits, std::uint32_t min_normal_exp,
                                        std::uint32_t denorm_mask) noexcept {
  constexpr int kShift = 23 - kMantBits;
  if (f_bits < (min_normal_exp << 23)) {
    const std::uint32_t rounded = bits(from_bits(f_bits) + from_bits(denorm_mask));
    return static_cast<std::uint8_t>(rounded - denorm_mask);
  }
  const std::uint32_t mant_odd = (f_bits >> kShift) & 1U;
  f_bits += (static_cast<std::uint32_t>(kBias - 127) << 23) + ((1U << (kShift - 1)) - 1U);
  f_bits += mant_odd;
  return static_cast<std::uint8_t>(f_bits >> kShift);
}

}  // namespace

std::uint8_t encode_e4m3fn(float value) noexcept {
  constexpr std::uint32_t kNanThreshold = 1087U << 20;  // 480.0f: first value that rounds past 448
  std::uint32_t f_bits = bits(value);
  const std::uint32_t sign = f_bits & 0x80000000U;
  f_bits ^= sign;
  std::uint8_t result = 0;
  if (f_bits >= kNanThreshold) {
    result = 0x7F;  // inf, NaN and every finite value rounding above 448
  } else {
    result = encode_normal_or_subnormal<3, 7>(f_bits, 121, 141U << 23);
  }
  return static_cast<std::uint8_t>(result | (sign >> 24));
}

std::uint8_t encode_e5m2(float value) noexcept {
  constexpr std::uint32_t kInfThreshold = 143U << 23;  // 65536.0f
  constexpr std::uint32_t kFp32Inf = 255U << 23;
  std::uint32_t f_bits = bits(value);
  const std::uint32_t sign = f_bits & 0x80000000U;
  f_bits ^= sign;
  std::uint8_t result = 0;
  if (f_bits >= kInfThreshold) {
    result = f_bits > kFp32Inf ? 0x7F : 0x7C;
  } else {
    result = encode_normal_or_subnormal<2, 15>(f_bits, 113, 134U << 23);
  }
  return static_cast<std::uint8_t>(result | (sign >> 24));
}

float decode_e4m3fn(std::uint8_t code) noexcept {
  const bool negative = (code & 0x80U) != 0;
  const int exponent = (code >> 3) & 0xF;
  const int mantissa = code & 0x7;
  float magnitude = 0.0F;
  if (exponent == 0xF && mantissa == 0x7) {
    magnitude = std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);  // m/8 * 2^-6
  } else {
    magnitude = std::ldexp(1.0F + static_cast<float>(mantissa) / 8.0F, exponent - 7);
  }
  return negative ? -magnitude : magnitude;
}

float decode_e5m2(std::uint8_t code) noexcept {
  const bool negative = (code & 0x80U) != 0;
  const int exponent = (code >> 2) & 0x1F;
  const int mantissa = code & 0x3;
  float magnitude = 0.0F;
  if (exponent == 0x1F) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  } else if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -16);  // m/4 * 2^-14
  } else {
    magnitude = std::ldexp(1.0F + static_cast<float>(mantissa) / 4.0F, exponent - 15);
  }
  return negative ? -magnitude : magnitude;
}

void decode_e4m3fn(std::span<const std::uint8_t> in, std::span<float> out) noexcept {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c)
      t[static_cast<std::size_t>(c)] = decode_e4m3fn(static_cast<std::uint8_t>(c));
    return t;
  }();
  for (std::size_t i = 0; i < in.size() && i < out.size(); ++i) out[i] = table[in[i]];
}

void decode_e5m2(std::span<const std::uint8_t> in, std::span<float> out) noexcept {
  for (std::size_t i = 0; i < in.size() && i < out.size(); ++i) out[i] = decode_e5m2(in[i]);
}

void encode_e4m3fn(std::span<const float> in, std::span<std::uint8_t> out) noexcept {
  for (std::size_t i = 0; i < in.size() && i < out.size(); ++i) out[i] = encode_e4m3fn(in[i]);
}

float e4m3_scale_for_absmax(float absmax) noexcept {
  if (!(absmax > 0.0F) || !std::isfinite(absmax)) return 1.0F;
  return absmax / kE4M3Max;
}

}  // namespace sd35::smoke::fp8
