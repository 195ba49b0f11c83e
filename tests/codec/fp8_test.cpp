// FP8 (e4m3fn, e5m2): the testdata/fp8 tables in both directions, the hand-typed edge table of
// file-formats.md §6.3, and lorakit's saturating mode (§6.5).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "codec_test_util.hpp"
#include "lorakit/codec.hpp"

namespace lorakit {
namespace {

using codec::Fp8Overflow;
using testing::bits;
using testing::from_bits;
using testing::hex;
using testing::parse_hex;
using testing::testdata;

struct Fp8Row {
  uint32_t in;
  uint8_t e4m3, e5m2;
};

std::vector<Fp8Row> encode_table() {
  std::vector<Fp8Row> rows;
  for (const auto& r : testing::read_tsv(testdata("fp8/fp32_to_fp8.tsv"))) {
    rows.push_back({parse_hex(r.at(0)), static_cast<uint8_t>(parse_hex(r.at(1))),
                    static_cast<uint8_t>(parse_hex(r.at(2)))});
  }
  return rows;
}

bool is_e4m3_nan(uint8_t b) { return (b & 0x7F) == 0x7F; }
bool is_e5m2_nonfinite(uint8_t b) { return (b & 0x7C) == 0x7C; }

TEST(Fp8, CastModeMatchesEveryTableRow) {
  const auto rows = encode_table();
  ASSERT_EQ(rows.size(), 2073u);  // the README's count
  size_t bad4 = 0, bad5 = 0;
  for (const auto& r : rows) {
    const float f = from_bits(r.in);
    const uint8_t e4 = codec::fp32_to_e4m3fn(f, Fp8Overflow::Cast);
    const uint8_t e5 = codec::fp32_to_e5m2(f, Fp8Overflow::Cast);
    if (e4 != r.e4m3 && bad4++ < 5)
      ADD_FAILURE() << hex(r.in) << " e4m3fn " << hex(e4) << " want " << hex(r.e4m3);
    if (e5 != r.e5m2 && bad5++ < 5)
      ADD_FAILURE() << hex(r.in) << " e5m2 " << hex(e5) << " want " << hex(r.e5m2);
  }
  EXPECT_EQ(bad4, 0u);
  EXPECT_EQ(bad5, 0u);
}

// The bulk path (codec::encode) gives the same bytes as the scalar function, in both modes.
TEST(Fp8, BulkEncodeMatchesTable) {
  const auto rows = encode_table();
  std::vector<float> x;
  for (const auto& r : rows) x.push_back(from_bits(r.in));
  std::vector<std::byte> e4(x.size()), e5(x.size());
  codec::EncodeOptions cast;
  cast.fp8_overflow = Fp8Overflow::Cast;
  codec::encode(DType::F8_E4M3, x.data(), e4.data(), x.size(), cast);
  codec::encode(DType::F8_E5M2, x.data(), e5.data(), x.size(), cast);
  for (size_t i = 0; i < rows.size(); ++i) {
    ASSERT_EQ(static_cast<uint8_t>(e4[i]), rows[i].e4m3) << hex(rows[i].in);
    ASSERT_EQ(static_cast<uint8_t>(e5[i]), rows[i].e5m2) << hex(rows[i].in);
  }
  // Saturate is the default option.
  codec::encode(DType::F8_E4M3, x.data(), e4.data(), x.size());
  codec::encode(DType::F8_E5M2, x.data(), e5.data(), x.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const float f = x[i];
    ASSERT_EQ(static_cast<uint8_t>(e4[i]), codec::fp32_to_e4m3fn(f, Fp8Overflow::Saturate));
    ASSERT_EQ(static_cast<uint8_t>(e5[i]), codec::fp32_to_e5m2(f, Fp8Overflow::Saturate));
  }
}

// Saturate = Cast wherever Cast stays finite; where Cast overflows (NaN for e4m3fn, inf for e5m2) a
// finite input gives ±max instead. Never NaN or inf for finite input.
TEST(Fp8, SaturateModeClampsOverflow) {
  size_t clamped = 0;
  for (const auto& r : encode_table()) {
    const float f = from_bits(r.in);
    const uint8_t e4 = codec::fp32_to_e4m3fn(f, Fp8Overflow::Saturate);
    const uint8_t e5 = codec::fp32_to_e5m2(f, Fp8Overflow::Saturate);
    const uint8_t sign = std::signbit(f) ? 0x80 : 0x00;
    if (std::isnan(f)) {
      EXPECT_TRUE(is_e4m3_nan(e4)) << hex(r.in);
      EXPECT_TRUE(is_e5m2_nonfinite(e5) && (e5 & 3) != 0) << hex(r.in);
      continue;
    }
    EXPECT_FALSE(is_e4m3_nan(e4)) << hex(r.in);
    EXPECT_FALSE(is_e5m2_nonfinite(e5)) << hex(r.in);
    if (is_e4m3_nan(r.e4m3)) {
      EXPECT_EQ(e4, sign | 0x7E) << hex(r.in);
      ++clamped;
    } else {
      EXPECT_EQ(e4, r.e4m3) << hex(r.in);
    }
    if (is_e5m2_nonfinite(r.e5m2)) {
      EXPECT_EQ(e5, sign | 0x7B) << hex(r.in);
    } else {
      EXPECT_EQ(e5, r.e5m2) << hex(r.in);
    }
  }
  EXPECT_GT(clamped, 10u);  // the table does exercise the overflow range
  EXPECT_EQ(codec::e4m3fn_to_fp32(codec::fp32_to_e4m3fn(1e30f, Fp8Overflow::Saturate)), 448.0f);
  EXPECT_EQ(codec::e4m3fn_to_fp32(codec::fp32_to_e4m3fn(-465.0f, Fp8Overflow::Saturate)), -448.0f);
  EXPECT_EQ(codec::e5m2_to_fp32(codec::fp32_to_e5m2(-1e30f, Fp8Overflow::Saturate)), -57344.0f);
  EXPECT_EQ(codec::e5m2_to_fp32(codec::fp32_to_e5m2(61440.0f, Fp8Overflow::Saturate)), 57344.0f);
  EXPECT_EQ(codec::fp32_to_e5m2(std::numeric_limits<float>::max(), Fp8Overflow::Saturate), 0x7B);
}

TEST(Fp8, DecodeMatchesEveryTableRow) {
  const auto rows = testing::read_tsv(testdata("fp8/fp8_to_fp32.tsv"));
  ASSERT_EQ(rows.size(), 256u);
  std::vector<std::byte> all(256);
  for (int i = 0; i < 256; ++i) all[i] = std::byte(i);
  std::vector<float> d4(256), d5(256);
  codec::decode(DType::F8_E4M3, all.data(), d4.data(), 256);
  codec::decode(DType::F8_E5M2, all.data(), d5.data(), 256);
  for (const auto& r : rows) {
    const uint8_t b = static_cast<uint8_t>(parse_hex(r.at(0)));
    const float want4 = from_bits(parse_hex(r.at(1))), want5 = from_bits(parse_hex(r.at(2)));
    for (auto [got, want, name] : {std::tuple{codec::e4m3fn_to_fp32(b), want4, "e4m3fn"},
                                   std::tuple{d4[b], want4, "e4m3fn bulk"},
                                   std::tuple{codec::e5m2_to_fp32(b), want5, "e5m2"},
                                   std::tuple{d5[b], want5, "e5m2 bulk"}}) {
      if (std::isnan(want)) {  // the README: any NaN is acceptable, with the code's sign
        EXPECT_TRUE(std::isnan(got)) << name << " " << hex(b);
        EXPECT_EQ(std::signbit(got), std::signbit(want)) << name << " " << hex(b);
      } else {
        EXPECT_EQ(bits(got), bits(want)) << name << " " << hex(b);
      }
    }
  }
}

// Every finite fp8 value encodes back to its own byte, in both modes.
TEST(Fp8, EveryFiniteValueRoundTrips) {
  for (int i = 0; i < 256; ++i) {
    const uint8_t b = static_cast<uint8_t>(i);
    if (!is_e4m3_nan(b)) {
      for (auto mode : {Fp8Overflow::Cast, Fp8Overflow::Saturate})
        EXPECT_EQ(codec::fp32_to_e4m3fn(codec::e4m3fn_to_fp32(b), mode), b) << hex(b);
    }
    if (!is_e5m2_nonfinite(b)) {
      for (auto mode : {Fp8Overflow::Cast, Fp8Overflow::Saturate})
        EXPECT_EQ(codec::fp32_to_e5m2(codec::e5m2_to_fp32(b), mode), b) << hex(b);
    }
  }
}

// file-formats.md §6.3, typed from the spec.
TEST(Fp8, SpecEdgeTable) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    float in;
    uint8_t want;
  };
  const Case e4m3[] = {
      {448, 0x7E},           {456, 0x7E},
      {464, 0x7E},           {464.5f, 0x7F},
      {470, 0x7F},           {479.9f, 0x7F},
      {480, 0x7F},           {1e6f, 0x7F},
      {inf, 0x7F},           {nan, 0x7F},
      {-inf, 0xFF},          {0.001953125f, 0x01},
      {0.0009765625f, 0x00}, {0.00146484375f, 0x01},
      {0.0146484375f, 0x08}, {1.0625f, 0x38},
      {1.1875f, 0x3A},       {-300, 0xF9},
  };
  for (const auto& c : e4m3) {
    EXPECT_EQ(codec::fp32_to_e4m3fn(c.in, Fp8Overflow::Cast), c.want) << c.in;
  }
  const Case e5m2[] = {
      {57344, 0x7B},
      {59392, 0x7B},
      {61439, 0x7B},
      {61440, 0x7C},
      {65536, 0x7C},
      {inf, 0x7C},
      {nan, 0x7F},
      {std::ldexp(1.0f, -16), 0x01},
      {std::ldexp(1.0f, -17), 0x00},
      {std::ldexp(1.5f, -17), 0x01},
      {std::ldexp(1.0f, -14), 0x04},
      {1.125f, 0x3C},
      {1.375f, 0x3E},
  };
  for (const auto& c : e5m2) {
    EXPECT_EQ(codec::fp32_to_e5m2(c.in, Fp8Overflow::Cast), c.want) << c.in;
  }
  // The §6.1 landmarks.
  EXPECT_EQ(codec::e4m3fn_to_fp32(0x7E), 448.0f);
  EXPECT_EQ(codec::e5m2_to_fp32(0x7B), 57344.0f);
  EXPECT_EQ(codec::e5m2_to_fp32(0x7C), inf);
  EXPECT_EQ(codec::e5m2_to_fp32(0xFC), -inf);
  EXPECT_TRUE(std::isnan(codec::e4m3fn_to_fp32(0xFF)));
  EXPECT_EQ(codec::e4m3fn_to_fp32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(codec::e5m2_to_fp32(0x04), std::ldexp(1.0f, -14));
  // Zero keeps its sign (§6.5).
  EXPECT_EQ(codec::fp32_to_e4m3fn(-0.0f, Fp8Overflow::Saturate), 0x80);
  EXPECT_EQ(codec::fp32_to_e5m2(-0.0f, Fp8Overflow::Saturate), 0x80);
}

}  // namespace
}  // namespace lorakit
