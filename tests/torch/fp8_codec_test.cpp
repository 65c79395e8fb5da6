// Exhaustive FP8 codec tests against an independent oracle: brute-force nearest code search with
// ties to the even code, plus torch's overflow rules (E4M3FN -> NaN above 464, E5M2 -> inf).
#include "smoke/fp8_codec.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace fp8 = sd35::smoke::fp8;

namespace {

struct Format {
  const char* name;
  std::uint8_t (*encode)(float);
  float (*decode)(std::uint8_t);
  float overflow_from;  // |x| >= this (or > for e4m3 midpoint) leaves the finite range
  std::uint8_t overflow_code;
};

// Oracle: the finite code nearest to x; ties go to the code with an even mantissa (lowest bit 0).
std::uint8_t oracle(const Format& f, float x) {
  const bool neg = std::signbit(x);
  const double ax = std::fabs(static_cast<double>(x));
  int best = -1;
  double best_err = 0;
  for (int c = 0; c < 128; ++c) {
    const float v = f.decode(static_cast<std::uint8_t>(c));
    if (!std::isfinite(v)) continue;
    const double err = std::fabs(static_cast<double>(v) - ax);
    if (best < 0 || err < best_err || (err == best_err && (c & 1) == 0)) {
      best = c;
      best_err = err;
    }
  }
  return static_cast<std::uint8_t>(best | (neg ? 0x80 : 0));
}

const Format kE4M3{"e4m3fn", fp8::encode_e4m3fn, fp8::decode_e4m3fn, 464.0F, 0x7F};
const Format kE5M2{"e5m2", fp8::encode_e5m2, fp8::decode_e5m2, 61440.0F, 0x7C};

std::uint8_t expected(const Format& f, float x) {
  if (std::isnan(x)) return static_cast<std::uint8_t>(0x7F | (std::signbit(x) ? 0x80 : 0));
  const float ax = std::fabs(x);
  const bool over = (&f == &kE4M3) ? ax > f.overflow_from : ax >= f.overflow_from;
  if (over) return static_cast<std::uint8_t>(f.overflow_code | (std::signbit(x) ? 0x80 : 0));
  return oracle(f, x);
}

void check_all_codes_and_boundaries(const Format& f) {
  // Every code decodes and re-encodes to itself (NaN codes to the canonical NaN of their sign).
  for (int c = 0; c < 256; ++c) {
    const auto code = static_cast<std::uint8_t>(c);
    const float v = f.decode(code);
    if (std::isnan(v)) {
      EXPECT_EQ(f.encode(v) & 0x7F, 0x7F) << f.name << " code " << c;
      continue;
    }
    EXPECT_EQ(f.encode(v), code) << f.name << " code " << c << " value " << v;
  }
  // Around every midpoint between neighbouring finite codes: the midpoint and one float ulp each
  // side.
  int checked = 0;
  for (int sign = 0; sign < 2; ++sign) {
    for (int c = 0; c < 127; ++c) {
      const float a = f.decode(static_cast<std::uint8_t>(c));
      const float b = f.decode(static_cast<std::uint8_t>(c + 1));
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      float mid = static_cast<float>((static_cast<double>(a) + b) / 2);
      if (sign) mid = -mid;
      for (float x : {mid, std::nextafter(mid, 0.0F), std::nextafter(mid, sign ? -1e30F : 1e30F)}) {
        EXPECT_EQ(f.encode(x), expected(f, x)) << f.name << " x=" << x;
        ++checked;
      }
    }
  }
  EXPECT_GT(checked, 600);
}

}  // namespace

TEST(Fp8Codec, E4M3FnAllCodesAndRoundingBoundaries) {
  check_all_codes_and_boundaries(kE4M3);
}
TEST(Fp8Codec, E5M2AllCodesAndRoundingBoundaries) {
  check_all_codes_and_boundaries(kE5M2);
}

TEST(Fp8Codec, E4M3FnSpecialValuesFollowTorch) {
  EXPECT_EQ(fp8::decode_e4m3fn(0x7E), 448.0F);
  EXPECT_TRUE(std::isnan(fp8::decode_e4m3fn(0x7F)));
  EXPECT_TRUE(std::isnan(fp8::decode_e4m3fn(0xFF)));
  EXPECT_EQ(fp8::decode_e4m3fn(0x01), std::ldexp(1.0F, -9));          // smallest subnormal
  EXPECT_EQ(fp8::encode_e4m3fn(464.0F), 0x7E);                        // tie rounds to even (448)
  EXPECT_EQ(fp8::encode_e4m3fn(std::nextafter(464.0F, 1e9F)), 0x7F);  // torch: NaN, no saturation
  EXPECT_EQ(fp8::encode_e4m3fn(1e6F), 0x7F);
  EXPECT_EQ(fp8::encode_e4m3fn(-1e6F), 0xFF);
  EXPECT_EQ(fp8::encode_e4m3fn(std::numeric_limits<float>::infinity()), 0x7F);
  EXPECT_EQ(fp8::encode_e4m3fn(-0.0F), 0x80);
  EXPECT_EQ(fp8::encode_e4m3fn(std::ldexp(1.0F, -10)),
            0x00);  // half the smallest subnormal: tie to 0
  EXPECT_EQ(fp8::encode_e4m3fn(std::nextafter(std::ldexp(1.0F, -10), 1.0F)), 0x01);
}

TEST(Fp8Codec, E5M2SpecialValuesFollowTorch) {
  EXPECT_EQ(fp8::decode_e5m2(0x7B), 57344.0F);
  EXPECT_TRUE(std::isinf(fp8::decode_e5m2(0x7C)));
  EXPECT_TRUE(std::isnan(fp8::decode_e5m2(0x7D)));
  EXPECT_EQ(fp8::encode_e5m2(61440.0F), 0x7C);  // tie between 57344 and inf: even mantissa = inf
  EXPECT_EQ(fp8::encode_e5m2(std::nextafter(61440.0F, 0.0F)), 0x7B);
  EXPECT_EQ(fp8::encode_e5m2(-std::numeric_limits<float>::infinity()), 0xFC);
  EXPECT_EQ(fp8::encode_e5m2(std::numeric_limits<float>::quiet_NaN()), 0x7F);
}

TEST(Fp8Codec, RandomValuesMatchOracle) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<std::uint32_t> any_bits;
  for (int i = 0; i < 20000; ++i) {
    // Random exponents across the whole float range, biased into the FP8 ranges.
    float x = std::bit_cast<float>(any_bits(rng));
    if (i % 2 == 0) x = std::ldexp(std::fmod(x, 2.0F), static_cast<int>(rng() % 40) - 24);
    ASSERT_EQ(fp8::encode_e4m3fn(x), expected(kE4M3, x)) << "x=" << x;
    ASSERT_EQ(fp8::encode_e5m2(x), expected(kE5M2, x)) << "x=" << x;
  }
}

TEST(Fp8Codec, BulkHelpersAgreeWithScalar) {
  std::vector<std::uint8_t> codes(256);
  for (int c = 0; c < 256; ++c) codes[static_cast<std::size_t>(c)] = static_cast<std::uint8_t>(c);
  std::vector<float> out(256);
  fp8::decode_e4m3fn(codes, out);
  for (int c = 0; c < 256; ++c) {
    const float s = fp8::decode_e4m3fn(static_cast<std::uint8_t>(c));
    if (std::isnan(s))
      EXPECT_TRUE(std::isnan(out[static_cast<std::size_t>(c)]));
    else
      EXPECT_EQ(out[static_cast<std::size_t>(c)], s);
  }
  EXPECT_FLOAT_EQ(fp8::e4m3_scale_for_absmax(896.0F), 2.0F);
  EXPECT_EQ(fp8::e4m3_scale_for_absmax(0.0F), 1.0F);
}
