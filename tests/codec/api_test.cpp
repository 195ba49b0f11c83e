// The codec API's contract: which types it implements, the errors it raises, and the exact rounding
// helpers of file-formats.md §4.4.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

#include "codec/rounding.hpp"
#include "codec_test_util.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"

namespace lorakit {
namespace {

const std::set<DType> kFloatTypes = {DType::F32, DType::F16,     DType::BF16,
                                     DType::F64, DType::F8_E4M3, DType::F8_E5M2};
const std::set<DType> kBlockTypes = {DType::Q8_0, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                     DType::Q5_1, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                                     DType::Q5_K, DType::Q6_K};
const std::set<DType> kIntTypes = {DType::U8,  DType::I8,  DType::I16, DType::U16, DType::I32,
                                   DType::U32, DType::I64, DType::U64, DType::BOOL};

TEST(CodecApi, CanDecodeAndEncodeExactlyTheImplementedTypes) {
  size_t decodable = 0;
  for (const auto& tr : all_dtypes()) {
    const DType t = tr.dtype;
    const bool dec = kFloatTypes.count(t) || kBlockTypes.count(t) || kIntTypes.count(t);
    const bool enc = kFloatTypes.count(t) || kBlockTypes.count(t);
    EXPECT_EQ(codec::can_decode(t), dec) << tr.name;
    EXPECT_EQ(codec::can_encode(t), enc) << tr.name;
    decodable += dec;
  }
  EXPECT_EQ(decodable, 25u);
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

TEST(CodecApi, UnsupportedTypesThrowNamingTheType) {
  std::vector<std::byte> b(1024);
  std::vector<float> f(256);
  for (const auto& tr : all_dtypes()) {
    const DType t = tr.dtype;
    if (!codec::can_decode(t)) {
      const size_t n = tr.block_elements;
      EXPECT_THROW(codec::decode(t, b.data(), f.data(), n), UnsupportedError) << tr.name;
      EXPECT_THROW(codec::decode_rows(t, b.data(), f.data(), 1, n), UnsupportedError) << tr.name;
      EXPECT_NE(error_of([&] { codec::decode(t, b.data(), f.data(), n); }).find(tr.name),
                std::string::npos);
    }
    if (!codec::can_encode(t)) {
      const size_t n = tr.block_elements;
      EXPECT_THROW(codec::encode(t, f.data(), b.data(), n), UnsupportedError) << tr.name;
      EXPECT_THROW(codec::encode_rows(t, f.data(), b.data(), 1, n), UnsupportedError) << tr.name;
    }
  }
  const std::string what =
      error_of([&] { codec::decode(DType::IQ2_XXS, b.data(), f.data(), 256); });
  EXPECT_NE(what.find("IQ2_XXS"), std::string::npos) << what;
  EXPECT_THROW(codec::encode(DType::IQ2_XXS, f.data(), b.data(), 256), UnsupportedError);
  EXPECT_THROW(codec::decode(DType::Q8_K, b.data(), f.data(), 256), UnsupportedError);
  EXPECT_THROW(codec::encode(DType::I32, f.data(), b.data(), 4), UnsupportedError);
}

TEST(CodecApi, PartialBlocksAreRejected) {
  std::vector<std::byte> b(1024);
  std::vector<float> f(512);
  EXPECT_THROW(codec::decode(DType::Q8_0, b.data(), f.data(), 33), InvalidArgument);
  EXPECT_THROW(codec::encode(DType::Q4_K, f.data(), b.data(), 128), InvalidArgument);
  EXPECT_THROW(codec::decode_rows(DType::Q6_K, b.data(), f.data(), 2, 100), InvalidArgument);
  EXPECT_THROW(codec::encode_rows(DType::Q4_0, f.data(), b.data(), 2, 48), InvalidArgument);
  EXPECT_NO_THROW(codec::decode(DType::Q8_0, b.data(), f.data(), 0));
  EXPECT_NO_THROW(codec::encode_rows(DType::Q8_0, f.data(), b.data(), 0, 32));
}

// Every quantizer rejects NaN and ±inf with a ValueError naming the first bad index; the plain
// float encoders convert them.
TEST(CodecApi, QuantizersRejectNonFinite) {
  const float bad[] = {std::nanf(""), std::numeric_limits<float>::infinity(),
                       -std::numeric_limits<float>::infinity()};
  for (DType t : kBlockTypes) {
    for (float v : bad) {
      std::vector<float> x(512, 0.25f);
      x[300] = v;
      x[400] = std::nanf("");
      std::vector<std::byte> q(*bytes_for(t, 512));
      const std::string what = error_of([&] {
        try {
          codec::encode(t, x.data(), q.data(), x.size());
        } catch (const ValueError&) {
          throw;
        } catch (...) {
          ADD_FAILURE() << "not a ValueError";
          throw;
        }
      });
      EXPECT_NE(what.find("element 300 "), std::string::npos) << name(t) << ": " << what;
      EXPECT_NE(what.find(std::string(name(t))), std::string::npos) << what;
    }
  }
  std::vector<float> x(32, std::nanf(""));
  std::vector<std::byte> q(32 * 8);
  for (DType t : kFloatTypes) EXPECT_NO_THROW(codec::encode(t, x.data(), q.data(), x.size()));
}

// Finite extremes are valid input: the quantizers must not throw or crash on them.
TEST(CodecApi, QuantizersAcceptFiniteExtremes) {
  std::vector<float> x(512);
  for (size_t i = 0; i < x.size(); ++i) {
    const float vals[] = {std::numeric_limits<float>::max(),
                          -std::numeric_limits<float>::max(),
                          std::numeric_limits<float>::denorm_min(),
                          0.0f,
                          -0.0f,
                          1e-30f,
                          3e4f};
    x[i] = vals[(i * 7 + i / 32) % 7];
  }
  for (DType t : kBlockTypes) {
    std::vector<std::byte> q(*bytes_for(t, x.size()));
    std::vector<float> y(x.size());
    EXPECT_NO_THROW(codec::encode(t, x.data(), q.data(), x.size())) << name(t);
    EXPECT_NO_THROW(codec::decode(t, q.data(), y.data(), x.size())) << name(t);
  }
}

// file-formats.md §4.4: the helpers must be exact where the naive formulas are not.
TEST(Rounding, RoundAwayIsExact) {
  using codec::detail::roundaway;
  EXPECT_EQ(roundaway(0.49999997f), 0);  // ⌊v + 0.5⌋ would give 1
  EXPECT_EQ(roundaway(-0.49999997f), 0);
  EXPECT_EQ(roundaway(0.5f), 1);
  EXPECT_EQ(roundaway(-0.5f), -1);
  EXPECT_EQ(roundaway(2.5f), 3);
  EXPECT_EQ(roundaway(-2.5f), -3);
  EXPECT_EQ(roundaway(126.49999f), 126);
  EXPECT_EQ(roundaway(8388607.5f), 8388608);
  EXPECT_EQ(roundaway(16777216.0f), 16777216);
  EXPECT_EQ(roundaway(-3e9f), std::numeric_limits<int32_t>::min());
}

TEST(Rounding, NearestEvenIsExact) {
  using codec::detail::rne;
  EXPECT_EQ(rne(0.5f), 0);
  EXPECT_EQ(rne(1.5f), 2);
  EXPECT_EQ(rne(2.5f), 2);
  EXPECT_EQ(rne(-0.5f), 0);
  EXPECT_EQ(rne(-1.5f), -2);
  EXPECT_EQ(rne(-2.5f), -2);
  EXPECT_EQ(rne(0.49999997f), 0);
  EXPECT_EQ(rne(4194303.0f), 4194303);
  EXPECT_EQ(rne(-4194302.5f), -4194302);
  EXPECT_EQ(rne(1e-30f), 0);
  EXPECT_GT(rne(1e20f), 1000);  // outside the reference's domain: saturates, keeps the sign
  EXPECT_LT(rne(-1e20f), -1000);
}

}  // namespace
}  // namespace lorakit
