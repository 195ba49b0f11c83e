// The Highway kernels against their scalar definitions, on every SIMD target compiled in and
// supported by this CPU: random bit patterns, special values (NaNs with payloads, infinities,
// subnormals, rounding ties), odd lengths (vector tails) and unaligned buffers. Equality is bit for
// bit.
#include "codec/simd.hpp"

#include <gtest/gtest.h>

#include <random>

#include "codec/kernels.hpp"
#include "codec_test_util.hpp"

namespace lorakit {
namespace {

using testing::from_bits;
using testing::same_bits;
using testing::same_bytes;

// Restores normal dispatch when a test ends, whatever happened.
struct TargetGuard {
  ~TargetGuard() { codec::detail::force_simd_target(0); }
};

// fp32 inputs covering every branch of the conversions.
std::vector<float> special_and_random_floats(size_t n_random) {
  std::vector<uint32_t> u = {
      0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
      0xFF800001, 0x7FA00000, 0x7FBFFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 0x7FC00001, 0x3F808000,
      0x3F818000, 0x3F808001, 0x3F807FFF, 0x477FE000, 0x477FEFFF, 0x477FF000, 0x477FF001,
      0xC77FF000, 0x47800000, 0x33800000, 0x33000000, 0x33000001, 0xB3000001, 0x33C00000,
      0x387FC000, 0x387FE000, 0x387FF000, 0x38800000, 0x387FFFFF, 0x00000001, 0x807FFFFF,
      0x00800000, 0x7F7FFFFF, 0xFF7FFFFF, 0x7F7F8000, 0x7F7F7FFF, 0x3F801000, 0x3F803000,
      0x38000000, 0x37FFFFFF, 0x38001000, 0x38003000, 0x337FFFFF, 0x4B800000,
  };
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any;
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (size_t i = 0; i < n_random; ++i) {
    u.push_back(i % 2 ? any(rng) : testing::bits(normal(rng) * (i % 7 == 0 ? 1e-5f : 1.0f)));
  }
  std::vector<float> f;
  for (uint32_t v : u) f.push_back(from_bits(v));
  return f;
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> b(n);
  for (auto& x : b) x = std::byte(static_cast<uint8_t>(rng()));
  return b;
}

// Block data whose fp16 scale fields are random finite values (random bytes could make them
// NaN/inf, which would compare equal anyway, but finite scales exercise the arithmetic).
std::vector<std::byte> random_blocks(size_t blocks, size_t block_bytes,
                                     std::initializer_list<size_t> f16_offsets, uint32_t seed) {
  std::vector<std::byte> b = random_bytes(blocks * block_bytes, seed);
  std::mt19937 rng(seed + 1);
  std::normal_distribution<float> normal(0.0f, 0.01f);
  for (size_t k = 0; k < blocks; ++k) {
    for (size_t off : f16_offsets) {
      const uint16_t h = codec::fp32_to_fp16(k % 17 == 3 ? 0.0f : normal(rng));
      std::memcpy(b.data() + k * block_bytes + off, &h, 2);
    }
  }
  return b;
}

class SimdTarget : public ::testing::TestWithParam<int64_t> {
 protected:
  void SetUp() override {
    codec::detail::force_simd_target(GetParam());
    ASSERT_EQ(codec::detail::simd_dispatched_target(), GetParam());
  }
  TargetGuard guard_;
};

TEST(Simd, SeveralTargetsAreTested) {
  const auto targets = codec::detail::simd_targets();
  ASSERT_FALSE(targets.empty());
  std::string names;
  for (int64_t t : targets) names += codec::detail::simd_target_name(t) + " ";
  std::cout << "[ info ] Highway targets on this CPU: " << names << "\n";
}

TEST_P(SimdTarget, F16EncodeDecode) {
  const std::vector<float> x = special_and_random_floats(100003);  // odd length: a vector tail
  for (size_t shift : {0, 1}) {  // unaligned source and destination
    std::vector<float> xs(x.size() + shift);
    std::copy(x.begin(), x.end(), xs.begin() + shift);
    std::vector<std::byte> simd(2 * x.size() + 1), scalar(2 * x.size() + 1);
    codec::detail::encode_f16_simd(xs.data() + shift, simd.data() + shift, x.size());
    codec::detail::encode_f16_scalar(xs.data() + shift, scalar.data() + shift, x.size());
    ASSERT_TRUE(same_bytes(simd, scalar)) << "encode, shift " << shift;

    // Decoding: every fp16 pattern plus the random ones just made.
    std::vector<std::byte> h(2 * 65536 + 1);
    for (uint32_t i = 0; i < 65536; ++i) {
      const uint16_t v = static_cast<uint16_t>(i);
      std::memcpy(h.data() + shift + 2 * i, &v, 2);
    }
    h.insert(h.end(), scalar.begin() + shift, scalar.end());
    const size_t n = (h.size() - shift) / 2;
    std::vector<float> ds(n), dv(n);
    codec::detail::decode_f16_simd(h.data() + shift, dv.data(), n);
    codec::detail::decode_f16_scalar(h.data() + shift, ds.data(), n);
    ASSERT_TRUE(same_bits(dv, ds)) << "decode, shift " << shift;
  }
}

TEST_P(SimdTarget, BF16EncodeDecode) {
  const std::vector<float> x = special_and_random_floats(100001);
  for (size_t shift : {0, 1}) {
    std::vector<std::byte> simd(2 * x.size() + 1), scalar(2 * x.size() + 1);
    codec::detail::encode_bf16_simd(x.data(), simd.data() + shift, x.size());
    codec::detail::encode_bf16_scalar(x.data(), scalar.data() + shift, x.size());
    ASSERT_TRUE(same_bytes(simd, scalar)) << "encode, shift " << shift;
    std::vector<std::byte> h = random_bytes(2 * 70001 + 1, 5);
    std::vector<float> ds(70001), dv(70001);
    codec::detail::decode_bf16_simd(h.data() + shift, dv.data(), dv.size());
    codec::detail::decode_bf16_scalar(h.data() + shift, ds.data(), ds.size());
    ASSERT_TRUE(same_bits(dv, ds)) << "decode, shift " << shift;
  }
}

TEST_P(SimdTarget, Q8_0Dequantize) {
  for (size_t shift : {0, 1}) {
    std::vector<std::byte> q = random_blocks(2001, 34, {0}, 11);
    q.insert(q.begin(), shift, std::byte{0});
    std::vector<float> dv(2001 * 32), ds(2001 * 32);
    codec::detail::dequantize_q8_0_simd(q.data() + shift, dv.data(), dv.size());
    codec::detail::dequantize_q8_0(q.data() + shift, ds.data(), ds.size());
    ASSERT_TRUE(same_bits(dv, ds)) << "shift " << shift;
  }
}

TEST_P(SimdTarget, Q4_KDequantize) {
  for (size_t shift : {0, 3}) {
    std::vector<std::byte> q = random_blocks(501, 144, {0, 2}, 12);
    q.insert(q.begin(), shift, std::byte{0});
    std::vector<float> dv(501 * 256), ds(501 * 256);
    codec::detail::dequantize_q4_k_simd(q.data() + shift, dv.data(), dv.size());
    codec::detail::dequantize_q4_k(q.data() + shift, ds.data(), ds.size());
    ASSERT_TRUE(same_bits(dv, ds)) << "shift " << shift;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, SimdTarget, ::testing::ValuesIn(codec::detail::simd_targets()),
                         [](const ::testing::TestParamInfo<int64_t>& i) {
                           return codec::detail::simd_target_name(i.param);
                         });

}  // namespace
}  // namespace lorakit
