// Every row of testdata/quants/vectors.tsv in both directions: quantizing the input must give the
// reference bytes, dequantizing the reference bytes must give the reference floats, bit for bit.
// Each row is checked through the public API, through encode_rows/decode_rows (256-element rows, as
// the vectors were made) and, where a SIMD kernel serves the public path, through the scalar kernel
// too.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "codec/kernels.hpp"
#include "codec_test_util.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/dtype.hpp"
#include "lorakit/error.hpp"

namespace lorakit {
namespace {

using testing::read_f32;
using testing::read_file;
using testing::same_bits;
using testing::same_bytes;
using testing::testdata;

struct Vector {
  std::string family, type, input, quantized, dequantized;
  size_t n;
  size_t bytes;
};

void PrintTo(const Vector& v, std::ostream* os) { *os << v.family << " " << v.type; }

std::vector<Vector> load_vectors() {
  std::vector<Vector> out;
  for (const auto& r : testing::read_tsv(testdata("quants/vectors.tsv"))) {
    out.push_back(
        {r.at(0), r.at(1), r.at(3), r.at(4), r.at(5), std::stoul(r.at(2)), std::stoul(r.at(6))});
  }
  return out;
}

const std::vector<Vector>& vectors() {
  static const std::vector<Vector> v = load_vectors();
  return v;
}

// The scalar twin of a type whose public kernel is SIMD (nullptr when the public one is scalar).
codec::detail::DecodeFn scalar_decoder(DType t) {
  switch (t) {
    case DType::F16:
      return codec::detail::decode_f16_scalar;
    case DType::BF16:
      return codec::detail::decode_bf16_scalar;
    case DType::Q8_0:
      return codec::detail::dequantize_q8_0;
    case DType::Q4_0:
      return codec::detail::dequantize_q4_0;
    case DType::Q4_1:
      return codec::detail::dequantize_q4_1;
    case DType::Q5_0:
      return codec::detail::dequantize_q5_0;
    case DType::Q5_1:
      return codec::detail::dequantize_q5_1;
    case DType::Q2_K:
      return codec::detail::dequantize_q2_k;
    case DType::Q3_K:
      return codec::detail::dequantize_q3_k;
    case DType::Q4_K:
      return codec::detail::dequantize_q4_k;
    case DType::Q5_K:
      return codec::detail::dequantize_q5_k;
    case DType::Q6_K:
      return codec::detail::dequantize_q6_k;
    default:
      return nullptr;
  }
}
void (*scalar_encoder(DType t))(const float*, std::byte*, size_t) {
  switch (t) {
    case DType::F16:
      return codec::detail::encode_f16_scalar;
    case DType::BF16:
      return codec::detail::encode_bf16_scalar;
    case DType::Q8_0:
      return codec::detail::quantize_q8_0;
    case DType::Q4_0:
      return codec::detail::quantize_q4_0;
    case DType::Q4_1:
      return codec::detail::quantize_q4_1;
    case DType::Q5_0:
      return codec::detail::quantize_q5_0;
    case DType::Q5_1:
      return codec::detail::quantize_q5_1;
    case DType::Q2_K:
      return codec::detail::quantize_q2_k;
    case DType::Q3_K:
      return codec::detail::quantize_q3_k;
    case DType::Q4_K:
      return codec::detail::quantize_q4_k;
    case DType::Q5_K:
      return codec::detail::quantize_q5_k;
    case DType::Q6_K:
      return codec::detail::quantize_q6_k;
    default:
      return nullptr;
  }
}

TEST(QuantVectors, ManifestHasAllRows) {
  // The README promises 110 rows: 9 families × 10 block types + 10 families × F16/BF16.
  ASSERT_EQ(vectors().size(), 110u);
  size_t block_rows = 0;
  for (const auto& v : vectors()) block_rows += v.type != "F16" && v.type != "BF16";
  EXPECT_EQ(block_rows, 90u);
}

class QuantVector : public ::testing::TestWithParam<Vector> {};

TEST_P(QuantVector, QuantizeIsBitExact) {
  const Vector& v = GetParam();
  const DType t = *dtype_from_user_name(v.type);
  const std::vector<float> x = read_f32(testdata("quants/" + v.input));
  const std::vector<std::byte> want = read_file(testdata("quants/" + v.quantized));
  ASSERT_EQ(x.size(), v.n);
  ASSERT_EQ(want.size(), v.bytes);
  ASSERT_EQ(*bytes_for(t, v.n), v.bytes);

  std::vector<std::byte> got(v.bytes, std::byte{0xAA});
  codec::encode(t, x.data(), got.data(), x.size());
  EXPECT_TRUE(same_bytes(got, want)) << "encode";

  std::vector<std::byte> rows(v.bytes, std::byte{0x55});
  codec::encode_rows(t, x.data(), rows.data(), v.n / 256, 256);
  EXPECT_TRUE(same_bytes(rows, want)) << "encode_rows";

  if (auto f = scalar_encoder(t)) {
    std::vector<std::byte> scalar(v.bytes);
    f(x.data(), scalar.data(), x.size());
    EXPECT_TRUE(same_bytes(scalar, want)) << "scalar kernel";
  }
}

TEST_P(QuantVector, DequantizeIsBitExact) {
  const Vector& v = GetParam();
  const DType t = *dtype_from_user_name(v.type);
  const std::vector<std::byte> q = read_file(testdata("quants/" + v.quantized));
  const std::vector<float> want = read_f32(testdata("quants/" + v.dequantized));
  ASSERT_EQ(want.size(), v.n);

  std::vector<float> got(v.n, -1.0f);
  codec::decode(t, q.data(), got.data(), v.n);
  EXPECT_TRUE(same_bits(got, want)) << "decode";

  std::vector<float> rows(v.n, -2.0f);
  codec::decode_rows(t, q.data(), rows.data(), v.n / 256, 256);
  EXPECT_TRUE(same_bits(rows, want)) << "decode_rows";

  if (auto f = scalar_decoder(t)) {
    std::vector<float> scalar(v.n, -3.0f);
    f(q.data(), scalar.data(), v.n);
    EXPECT_TRUE(same_bits(scalar, want)) << "scalar kernel";
  }
}

// Not bit-exactness but plausibility: the reference RMS errors of §5.4 for normal(0, 1) data, with
// a margin, as an independent check that each type's round trip is the right kind of approximation.
TEST(QuantVectors, NormalFamilyErrorIsNearReference) {
  const std::map<std::string, double> kRms = {
      {"Q8_0", 0.00547}, {"Q6_K", 0.0178}, {"Q5_1", 0.0383},  {"Q5_K", 0.0366},
      {"Q5_0", 0.0434},  {"Q4_K", 0.0722}, {"Q4_1", 0.0794},  {"Q4_0", 0.0871},
      {"Q3_K", 0.153},   {"Q2_K", 0.295},  {"BF16", 0.00164}, {"F16", 0.000209}};
  size_t checked = 0;
  for (const Vector& v : vectors()) {
    if (v.family != "normal") continue;
    const DType t = *dtype_from_user_name(v.type);
    const std::vector<float> x = read_f32(testdata("quants/" + v.input));
    std::vector<std::byte> q(v.bytes);
    codec::encode(t, x.data(), q.data(), x.size());
    std::vector<float> y(v.n);
    codec::decode(t, q.data(), y.data(), v.n);
    double se = 0;
    for (size_t i = 0; i < v.n; ++i) se += (double(y[i]) - x[i]) * (double(y[i]) - x[i]);
    const double rms = std::sqrt(se / double(v.n));
    EXPECT_LT(rms, kRms.at(v.type) * 1.25) << v.type;
    EXPECT_GT(rms, kRms.at(v.type) * 0.75) << v.type;
    ++checked;
  }
  EXPECT_EQ(checked, kRms.size());
}

INSTANTIATE_TEST_SUITE_P(Vectors, QuantVector, ::testing::ValuesIn(vectors()),
                         [](const ::testing::TestParamInfo<Vector>& i) {
                           return i.param.family + "_" + i.param.type;
                         });

}  // namespace
}  // namespace lorakit
