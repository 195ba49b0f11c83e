// F16, BF16, F32, F64 and the integer types: the testdata/fp8/fp32_to_f16_bf16.tsv table, the edge
// tables of file-formats.md §4.1 and §4.3 (typed from the spec), exhaustive fp16 decoding and
// random fp16 encoding against independent oracles (double arithmetic, and the compiler's
// _Float16).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "codec_test_util.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"

namespace lorakit {
namespace {

using testing::bits;
using testing::from_bits;
using testing::hex;
using testing::parse_hex;

TEST(FloatConvert, F16AndBF16TableRows) {
  const auto rows = testing::read_tsv(testing::testdata("fp8/fp32_to_f16_bf16.tsv"));
  ASSERT_EQ(rows.size(), 792u);
  std::vector<float> x;
  size_t nan_rows = 0;
  for (const auto& r : rows) {
    const float f = from_bits(parse_hex(r.at(0)));
    const uint16_t f16 = static_cast<uint16_t>(parse_hex(r.at(1)));
    const uint16_t bf16 = static_cast<uint16_t>(parse_hex(r.at(2)));
    x.push_back(f);
    // The f16 column follows the same NaN rule as ggml (sign | 0x7E00): exact on every row.
    EXPECT_EQ(codec::fp32_to_fp16(f), f16) << r.at(0);
    if (std::isnan(f)) {
      // The table's bf16 NaNs are PyTorch's 0x7FC0; lorakit keeps ggml's payload rule (checked in
      // SpecEdgeValuesBF16). The README says to compare NaNs as NaNs here.
      ++nan_rows;
      EXPECT_TRUE(std::isnan(codec::bf16_to_fp32(codec::fp32_to_bf16(f)))) << r.at(0);
      EXPECT_EQ(codec::fp32_to_bf16(f), (parse_hex(r.at(0)) >> 16) | 0x40) << r.at(0);
    } else {
      EXPECT_EQ(codec::fp32_to_bf16(f), bf16) << r.at(0);
    }
  }
  EXPECT_GT(nan_rows, 0u);
  // The bulk kernels give the same bytes as the scalar functions.
  std::vector<std::byte> h(2 * x.size()), b(2 * x.size());
  codec::encode(DType::F16, x.data(), h.data(), x.size());
  codec::encode(DType::BF16, x.data(), b.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    uint16_t hv, bv;
    std::memcpy(&hv, h.data() + 2 * i, 2);
    std::memcpy(&bv, b.data() + 2 * i, 2);
    EXPECT_EQ(hv, codec::fp32_to_fp16(x[i])) << i;
    EXPECT_EQ(bv, codec::fp32_to_bf16(x[i])) << i;
  }
}

// file-formats.md §4.1.
TEST(FloatConvert, SpecEdgeValuesF16) {
  const std::pair<uint32_t, uint16_t> cases[] = {
      {0x00000000, 0x0000}, {0x80000000, 0x8000}, {0x7F800000, 0x7C00}, {0xFF800000, 0xFC00},
      {0x7FC00000, 0x7E00}, {0xFFC00000, 0xFE00}, {0x7F800001, 0x7E00}, {0x7FA00000, 0x7E00},
      {0x7FBFFFFF, 0x7E00}, {0x3F808000, 0x3C04}, {0x3F818000, 0x3C0C}, {0x477FE000, 0x7BFF},
      {0x477FEFFF, 0x7BFF}, {0x477FF000, 0x7C00}, {0x33800000, 0x0001}, {0x33000000, 0x0000},
      {0x33000001, 0x0001}, {0x387FC000, 0x03FF}, {0x38800000, 0x0400}, {0x00000001, 0x0000},
      {0x807FFFFF, 0x8000}, {0x7F7FFFFF, 0x7C00},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(codec::fp32_to_fp16(from_bits(in)), want) << hex(in);
  }
}

// file-formats.md §4.3.
TEST(FloatConvert, SpecEdgeValuesBF16) {
  const std::pair<uint32_t, uint16_t> cases[] = {
      {0x7F7FFFFF, 0x7F80}, {0x00000001, 0x0000}, {0x807FFFFF, 0x8080}, {0x3F808000, 0x3F80},
      {0x3F818000, 0x3F82}, {0x3F808001, 0x3F81}, {0x477FF000, 0x4780}, {0x7F7F7FFF, 0x7F7F},
      {0x7F7F8000, 0x7F80}, {0x7FA00000, 0x7FE0}, {0x7FBFFFFF, 0x7FFF},
  };
  for (const auto& [in, want] : cases) {
    EXPECT_EQ(codec::fp32_to_bf16(from_bits(in)), want) << hex(in);
  }
  EXPECT_EQ(bits(codec::bf16_to_fp32(0x3F81)), 0x3F810000u);
  EXPECT_EQ(bits(codec::bf16_to_fp32(0xFFC1)), 0xFFC10000u);
}

// Every binary16 pattern, against a value computed with ldexp; NaNs widen their payload unchanged.
TEST(FloatConvert, F16DecodeExhaustive) {
  std::vector<std::byte> all(2 * 65536);
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint16_t v = static_cast<uint16_t>(h);
    std::memcpy(all.data() + 2 * h, &v, 2);
  }
  std::vector<float> got(65536);
  codec::decode(DType::F16, all.data(), got.data(), 65536);
  for (uint32_t h = 0; h < 65536; ++h) {
    const uint32_t e = (h >> 10) & 31, m = h & 1023;
    const bool neg = h & 0x8000;
    float want;
    if (e == 31) {
      want = from_bits((neg ? 0x80000000u : 0u) | 0x7F800000u | (m << 13));
    } else {
      const float mag =
          e == 0 ? std::ldexp(float(m), -24) : std::ldexp(float(m + 1024), int(e) - 25);
      want = neg ? -mag : mag;
    }
    ASSERT_EQ(bits(got[h]), bits(want)) << hex(h);
    ASSERT_EQ(bits(codec::fp16_to_fp32(static_cast<uint16_t>(h))), bits(want)) << hex(h);
    if (e != 31 || m == 0) {  // every non-NaN value encodes back to itself
      ASSERT_EQ(codec::fp32_to_fp16(want), h) << hex(h);
    }
  }
}

// An independent fp32 → fp16 for finite input: round |x| to a multiple of the fp16 ulp at its
// exponent with nearbyint (ties to even) in double, then find the pattern by an ldexp-built table.
uint16_t reference_f16(float f) {
  static const std::unordered_map<uint32_t, uint16_t> by_value = [] {
    std::unordered_map<uint32_t, uint16_t> m;
    for (uint32_t h = 0; h < 0x7C00; ++h) {
      const uint32_t e = h >> 10, mant = h & 1023;
      m[bits(e == 0 ? std::ldexp(float(mant), -24) : std::ldexp(float(mant + 1024), int(e) - 25))] =
          static_cast<uint16_t>(h);
    }
    return m;
  }();
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  const double a = std::fabs(double(f));
  if (a >= 65520.0) return sign | 0x7C00;
  int e;
  std::frexp(a, &e);                        // a = m·2^e with 0.5 ≤ m < 1
  const int q = std::max(e - 1, -14) - 10;  // ulp exponent
  const double r = std::ldexp(std::nearbyint(std::ldexp(a, -q)), q);
  return sign | by_value.at(bits(static_cast<float>(r)));
}

// Random fp32 patterns (all exponents) and values near fp16's range, against the reference above
// and, where the compiler has it, its _Float16 conversion; NaNs only against the ggml rule.
TEST(FloatConvert, F16EncodeMatchesIndependentConversion) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<uint32_t> any;
  std::uniform_real_distribution<float> near(-70000.0f, 70000.0f);
  std::uniform_int_distribution<int> exp(-30, 17);
  for (int i = 0; i < 400000; ++i) {
    float f;
    switch (i % 3) {
      case 0:
        f = from_bits(any(rng));
        break;
      case 1:
        f = near(rng);
        break;
      default:
        f = std::ldexp(from_bits(0x3F800000u | (any(rng) & 0x7FFFFF)), exp(rng));
        break;
    }
    const uint16_t got = codec::fp32_to_fp16(f);
    if (std::isnan(f)) {
      ASSERT_EQ(got, (bits(f) >> 16 & 0x8000) | 0x7E00) << hex(bits(f));
      continue;
    }
    ASSERT_EQ(got, reference_f16(f)) << hex(bits(f));
#ifdef __FLT16_MAX__  // GCC ≥ 12 on x86-64: libgcc's software conversion
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, 2);
    ASSERT_EQ(got, want) << hex(bits(f));
#endif
  }
}

// BF16 against the definition on random patterns: the nearest bf16 (ties to even) computed in
// double.
TEST(FloatConvert, BF16EncodeMatchesNearestEven) {
  std::mt19937 rng(99);
  std::uniform_int_distribution<uint32_t> any;
  for (int i = 0; i < 200000; ++i) {
    const uint32_t u = any(rng);
    const float f = from_bits(u);
    if (std::isnan(f)) continue;
    const uint16_t got = codec::fp32_to_bf16(f);
    if (std::isinf(f)) continue;
    // The two bf16 neighbours: truncation, and one bf16 step up in magnitude (the pattern 0x7F80
    // there stands for 2^128, as in IEEE overflow rounding).
    const uint32_t lo = u & 0xFFFF0000u, hi = lo + 0x10000u;
    const double dlo = from_bits(lo);
    const double dhi =
        (hi & 0x7FFFFFFFu) == 0x7F800000u ? std::copysign(std::ldexp(1.0, 128), f) : from_bits(hi);
    const double elo = std::fabs(double(f) - dlo), ehi = std::fabs(dhi - double(f));
    const bool up = ehi < elo || (ehi == elo && ((lo >> 16) & 1));
    const uint16_t want = static_cast<uint16_t>((up ? hi : lo) >> 16);
    ASSERT_EQ(got, want) << hex(u);
  }
}

TEST(FloatConvert, F32AndF64) {
  const std::vector<float> x = {0.0f,         -0.0f,   1.5f,
                                -3.25e-40f,   3.4e38f, std::numeric_limits<float>::infinity(),
                                std::nanf("")};
  std::vector<std::byte> b(4 * x.size());
  codec::encode(DType::F32, x.data(), b.data(), x.size());
  std::vector<float> y(x.size());
  codec::decode(DType::F32, b.data(), y.data(), x.size());
  EXPECT_TRUE(testing::same_bits(y, x));

  std::vector<std::byte> d(8 * x.size());
  codec::encode(DType::F64, x.data(), d.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double v;
    std::memcpy(&v, d.data() + 8 * i, 8);
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(v));
    } else {
      EXPECT_EQ(v, double(x[i]));
      EXPECT_EQ(std::signbit(v), std::signbit(x[i]));
    }
  }
  std::fill(y.begin(), y.end(), 7.0f);
  codec::decode(DType::F64, d.data(), y.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(y[i]));
    } else {
      EXPECT_EQ(bits(y[i]), bits(x[i])) << i;
    }
  }
  // Narrowing rounds to nearest even: 1 + 2^-24 is a tie between 1 and 1 + 2^-23.
  const double narrow[] = {1.0 + std::ldexp(1.0, -24), 1.0 + 3 * std::ldexp(1.0, -24), 1e300,
                           -1e-300};
  std::vector<std::byte> nb(sizeof narrow);
  std::memcpy(nb.data(), narrow, sizeof narrow);
  float out[4];
  codec::decode(DType::F64, nb.data(), out, 4);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 1.0f + std::ldexp(1.0f, -22));
  EXPECT_EQ(out[2], std::numeric_limits<float>::infinity());
  EXPECT_EQ(bits(out[3]), 0x80000000u);
}

template <typename T>
std::vector<float> decode_ints(DType t, const std::vector<T>& v) {
  std::vector<std::byte> b(sizeof(T) * v.size() + 1);
  for (size_t i = 0; i < v.size(); ++i) {  // one byte in: deliberately unaligned
    std::memcpy(b.data() + 1 + sizeof(T) * i, &v[i], sizeof(T));
  }
  std::vector<float> out(v.size());
  codec::decode(t, b.data() + 1, out.data(), v.size());
  return out;
}

TEST(FloatConvert, IntegerTypesDecodeToTheirValue) {
  EXPECT_EQ(decode_ints<uint8_t>(DType::U8, {0, 1, 255}), (std::vector<float>{0, 1, 255}));
  EXPECT_EQ(decode_ints<int8_t>(DType::I8, {-128, -1, 127}), (std::vector<float>{-128, -1, 127}));
  EXPECT_EQ(decode_ints<uint16_t>(DType::U16, {65535, 7}), (std::vector<float>{65535, 7}));
  EXPECT_EQ(decode_ints<int16_t>(DType::I16, {-32768, 32767}), (std::vector<float>{-32768, 32767}));
  EXPECT_EQ(decode_ints<int32_t>(DType::I32, {-2147483647 - 1, 16777217, 16777219}),
            (std::vector<float>{-2147483648.0f, 16777216.0f, 16777220.0f}));  // nearest even
  EXPECT_EQ(decode_ints<uint32_t>(DType::U32, {4294967295u}), (std::vector<float>{4294967296.0f}));
  EXPECT_EQ(decode_ints<int64_t>(DType::I64, {-(int64_t{1} << 62), 3}),
            (std::vector<float>{-4611686018427387904.0f, 3}));
  EXPECT_EQ(decode_ints<uint64_t>(DType::U64, {~uint64_t{0}, (uint64_t{1} << 63) + 1}),
            (std::vector<float>{18446744073709551616.0f, 9223372036854775808.0f}));
  EXPECT_EQ(decode_ints<uint8_t>(DType::BOOL, {0, 1, 2, 255}), (std::vector<float>{0, 1, 1, 1}));
}

}  // namespace
}  // namespace lorakit
