// Stochastic fp8 rounding (file-formats.md §6.5) and the CRC-32 that seeds it.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "lorakit/codec.hpp"

namespace lorakit::codec {
namespace {

TEST(Crc32, StandardCheckValue) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);  // the CRC-32 catalogue's check value
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(stochastic_seed("123456789", 3), (3ull << 32) | 0xCBF43926u);
}

// The uniform of §6.5 step 2 written out for index 0 and seed 0, by hand from SplitMix64.
TEST(Fp8Stochastic, FirstUniformMatchesSplitMix64ByHand) {
  // z = 0x9E3779B97F4A7C15 → SplitMix64 output 0xE220A8397B1DCDAF (the published first output
  // of SplitMix64 seeded with 0); u = (z >> 40)·2⁻²⁴ = 0xE220A8 / 2²⁴ = 0.883311748504638671875.
  // For a = 1.25 + 0.0625·0.5 the e4m3 ulp at 1.x is 0.125, a/ulp = 10.25, floor(10.25 + 0.8833) =
  // 11 → 1.375; for a = 1.25 + 0.125·0.1 (a/ulp = 10.1) floor(10.9833) = 10 → 1.25.
  const float xs[2] = {1.28125f, 1.2625f};
  std::byte out[2];
  encode_fp8_stochastic(DType::F8_E4M3, &xs[0], &out[0], 1, 0, 0);
  encode_fp8_stochastic(DType::F8_E4M3, &xs[1], &out[1], 1, 0, 0);
  EXPECT_EQ(e4m3fn_to_fp32(static_cast<uint8_t>(out[0])), 1.375f);
  EXPECT_EQ(e4m3fn_to_fp32(static_cast<uint8_t>(out[1])), 1.25f);
}

TEST(Fp8Stochastic, NeighboursOnlyUnbiasedAndTilingInvariant) {
  for (DType t : {DType::F8_E4M3, DType::F8_E5M2}) {
    const int mant = t == DType::F8_E4M3 ? 3 : 2;
    const int emin = t == DType::F8_E4M3 ? -6 : -14;
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> ud(-3.0f, 3.0f);
    const size_t n = 1 << 16;
    // Many copies of a few values: the mean of the rounded copies must approach the value.
    std::vector<float> xs(n);
    for (size_t i = 0; i < n; ++i)
      xs[i] = (i % 4 == 0) ? 0.3f : (i % 4 == 1) ? -1.1f : ud(rng) * 0.01f;
    std::vector<std::byte> whole(n), tiled(n);
    encode_fp8_stochastic(t, xs.data(), whole.data(), n, 12345, 0);
    for (size_t b = 0; b < n; b += 1000)
      encode_fp8_stochastic(t, xs.data() + b, tiled.data() + b, std::min<size_t>(1000, n - b),
                            12345, b);
    EXPECT_EQ(whole, tiled);
    double sum03 = 0, sum11 = 0;
    for (size_t i = 0; i < n; ++i) {
      const float q = t == DType::F8_E4M3 ? e4m3fn_to_fp32(static_cast<uint8_t>(whole[i]))
                                          : e5m2_to_fp32(static_cast<uint8_t>(whole[i]));
      ASSERT_TRUE(std::isfinite(q));
      const double a = std::fabs(static_cast<double>(xs[i]));
      const int e = a == 0 ? emin : std::max(static_cast<int>(std::floor(std::log2(a))), emin);
      EXPECT_LT(std::fabs(q - xs[i]), std::ldexp(1.0, e - mant)) << xs[i];
      if (i % 4 == 0) sum03 += q;
      if (i % 4 == 1) sum11 += q;
    }
    EXPECT_NEAR(sum03 / (n / 4), 0.3, 0.002);
    EXPECT_NEAR(sum11 / (n / 4), -1.1, 0.004);
  }
}

TEST(Fp8Stochastic, SaturatesAndKeepsZeroAndNan) {
  const float xs[5] = {1e6f, -INFINITY, 0.0f, -0.0f, NAN};
  std::byte out[5];
  EXPECT_EQ(encode_fp8_stochastic(DType::F8_E4M3, xs, out, 5, 1, 0), 2u);
  EXPECT_EQ(e4m3fn_to_fp32(static_cast<uint8_t>(out[0])), 448.0f);
  EXPECT_EQ(e4m3fn_to_fp32(static_cast<uint8_t>(out[1])), -448.0f);
  EXPECT_EQ(static_cast<uint8_t>(out[2]), 0x00);
  EXPECT_EQ(static_cast<uint8_t>(out[3]), 0x80);
  EXPECT_TRUE(std::isnan(e4m3fn_to_fp32(static_cast<uint8_t>(out[4]))));
}

}  // namespace
}  // namespace lorakit::codec
