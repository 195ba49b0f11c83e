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

struct DequantKernels {
  const char* name;
  size_t block_elements, block_bytes;
  std::initializer_list<size_t> f16_offsets;
  void (*simd)(const std::byte*, float*, size_t);
  void (*scalar)(const std::byte*, float*, size_t);
};

TEST_P(SimdTarget, DequantizersMatchScalar) {
  namespace d = codec::detail;
  const DequantKernels kernels[] = {
      {"Q4_0", 32, 18, {0}, d::dequantize_q4_0_simd, d::dequantize_q4_0},
      {"Q4_1", 32, 20, {0, 2}, d::dequantize_q4_1_simd, d::dequantize_q4_1},
      {"Q5_0", 32, 22, {0}, d::dequantize_q5_0_simd, d::dequantize_q5_0},
      {"Q5_1", 32, 24, {0, 2}, d::dequantize_q5_1_simd, d::dequantize_q5_1},
      {"Q2_K", 256, 84, {80, 82}, d::dequantize_q2_k_simd, d::dequantize_q2_k},
      {"Q3_K", 256, 110, {108}, d::dequantize_q3_k_simd, d::dequantize_q3_k},
      {"Q5_K", 256, 176, {0, 2}, d::dequantize_q5_k_simd, d::dequantize_q5_k},
      {"Q6_K", 256, 210, {208}, d::dequantize_q6_k_simd, d::dequantize_q6_k},
  };
  for (const DequantKernels& k : kernels) {
    const size_t blocks = k.block_elements == 32 ? 2001 : 301;
    for (size_t shift : {0, 3}) {  // unaligned source
      std::vector<std::byte> q = random_blocks(blocks, k.block_bytes, k.f16_offsets, 13);
      q.insert(q.begin(), shift, std::byte{0});
      std::vector<float> dv(blocks * k.block_elements), ds(blocks * k.block_elements);
      k.simd(q.data() + shift, dv.data(), dv.size());
      k.scalar(q.data() + shift, ds.data(), ds.size());
      ASSERT_TRUE(same_bits(dv, ds)) << k.name << ", shift " << shift;
    }
  }
}

TEST_P(SimdTarget, Fp8Encode) {
  std::vector<float> x = special_and_random_floats(100001);
  // Every fp8 value of both formats, the midpoints between neighbours (the rounding ties) and the
  // floats next to all of those, both signs.
  for (auto decode : {codec::e4m3fn_to_fp32, codec::e5m2_to_fp32}) {
    for (int c = 0; c < 0x7F; ++c) {
      const float v = decode(static_cast<uint8_t>(c)), next = decode(static_cast<uint8_t>(c + 1));
      for (float p : {v, (v + next) / 2, next + (next - v) / 2}) {
        for (float q : {p, std::nextafter(p, 0.0f), std::nextafter(p, 1e30f)}) {
          x.push_back(q);
          x.push_back(-q);
        }
      }
    }
  }
  for (auto mode : {codec::Fp8Overflow::Saturate, codec::Fp8Overflow::Cast}) {
    for (size_t shift : {0, 1}) {
      std::vector<std::byte> simd(x.size() + 1), scalar(x.size() + 1);
      codec::detail::encode_e4m3fn_simd(x.data(), simd.data() + shift, x.size(), mode);
      codec::detail::encode_e4m3fn(x.data(), scalar.data() + shift, x.size(), mode);
      ASSERT_TRUE(same_bytes(simd, scalar)) << "e4m3fn, shift " << shift;
      codec::detail::encode_e5m2_simd(x.data(), simd.data() + shift, x.size(), mode);
      codec::detail::encode_e5m2(x.data(), scalar.data() + shift, x.size(), mode);
      ASSERT_TRUE(same_bytes(simd, scalar)) << "e5m2, shift " << shift;
    }
  }
}

// Quantizer input: 32-element runs of many kinds, so that every legacy block and every K-quant
// group meets ordinary data, ties, signed zeros, constant and near-constant runs, equal extremes of
// opposite sign, subnormals (infinite reciprocals: the NaN and overflow paths of the conversions)
// and magnitudes whose squares overflow.
std::vector<float> quantizer_input(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::uniform_int_distribution<int> small_int(-16, 16);
  std::vector<float> x(n);
  for (size_t r = 0; r < n; r += 32) {
    float* v = x.data() + r;
    const uint32_t kind = rng() % 16;
    const float scale = std::ldexp(1.0f, static_cast<int>(rng() % 200) - 140);
    for (int i = 0; i < 32; ++i) {
      // clang-format off
      switch (kind) {
        case 0: v[i] = normal(rng); break;
        case 1: v[i] = 0.02f * normal(rng); break;
        case 2: v[i] = scale * normal(rng); break;  // 2^-140 .. 2^59
        case 3: v[i] = rng() % 2 ? -0.0f : 0.0f; break;
        case 4: v[i] = i == 0 ? scale * normal(rng) : v[0]; break;
        case 5: v[i] = 0.5f * static_cast<float>(small_int(rng)) * scale; break;  // ties
        case 6: v[i] = from_bits(rng() % 0x00800000u | (rng() % 2 ? 0x80000000u : 0u)); break;
        case 7: v[i] = i == 5 ? normal(rng) : (rng() % 2 ? -0.0f : 0.0f); break;
        case 8: v[i] = i == 3 ? 7.0f : i == 20 ? -7.0f : uniform(rng); break;
        case 9: v[i] = rng() % 3 ? 1e-38f * uniform(rng) : 0.0f; break;
        case 10: v[i] = rng() % 4 ? uniform(rng) : 0.0f; break;
        case 11: v[i] = 1e25f * normal(rng); break;  // x² overflows
        case 12: v[i] = std::abs(normal(rng)); break;  // all positive: the min is clipped
        // Q8_0 scale exactly 2^k (max 127·2^k), every other x / d an exact tie k + 0.5.
        case 14: v[i] = (i == 0 ? 127.0f : 0.5f + static_cast<float>(small_int(rng))) * scale; break;
        default: v[i] = -std::abs(0.01f * normal(rng)); break;
      }
      // clang-format on
    }
  }
  return x;
}

struct QuantKernels {
  const char* name;
  size_t block_elements, block_bytes;
  void (*simd)(const float*, std::byte*, size_t);
  void (*scalar)(const float*, std::byte*, size_t);
};

const QuantKernels kQuantKernels[] = {
    {"Q8_0", 32, 34, codec::detail::quantize_q8_0_simd, codec::detail::quantize_q8_0},
    {"Q4_0", 32, 18, codec::detail::quantize_q4_0_simd, codec::detail::quantize_q4_0},
    {"Q4_1", 32, 20, codec::detail::quantize_q4_1_simd, codec::detail::quantize_q4_1},
    {"Q5_0", 32, 22, codec::detail::quantize_q5_0_simd, codec::detail::quantize_q5_0},
    {"Q5_1", 32, 24, codec::detail::quantize_q5_1_simd, codec::detail::quantize_q5_1},
    {"Q2_K", 256, 84, codec::detail::quantize_q2_k_simd, codec::detail::quantize_q2_k},
    {"Q3_K", 256, 110, codec::detail::quantize_q3_k_simd, codec::detail::quantize_q3_k},
    {"Q4_K", 256, 144, codec::detail::quantize_q4_k_simd, codec::detail::quantize_q4_k},
    {"Q5_K", 256, 176, codec::detail::quantize_q5_k_simd, codec::detail::quantize_q5_k},
    {"Q6_K", 256, 210, codec::detail::quantize_q6_k_simd, codec::detail::quantize_q6_k},
};

TEST_P(SimdTarget, QuantizersMatchScalar) {
  // An odd number of super-blocks: the last chunk of the 8-group types is padded on 16 lanes.
  const size_t n = 77 * 256;
  const std::vector<float> x = quantizer_input(n, 21);
  for (const QuantKernels& k : kQuantKernels) {
    for (size_t shift : {0, 1}) {  // unaligned source and destination
      std::vector<float> xs(n + shift);
      std::copy(x.begin(), x.end(), xs.begin() + shift);
      const size_t bytes = n / k.block_elements * k.block_bytes;
      std::vector<std::byte> simd(bytes + shift, std::byte{0xAA});
      std::vector<std::byte> scalar(bytes + shift, std::byte{0x55});
      k.simd(xs.data() + shift, simd.data() + shift, n);
      k.scalar(xs.data() + shift, scalar.data() + shift, n);
      simd.erase(simd.begin(), simd.begin() + static_cast<ptrdiff_t>(shift));
      scalar.erase(scalar.begin(), scalar.begin() + static_cast<ptrdiff_t>(shift));
      ASSERT_TRUE(same_bytes(simd, scalar)) << k.name << ", shift " << shift;
    }
    // A single block: a chunk that is mostly padding.
    std::vector<std::byte> one_simd(k.block_bytes), one_scalar(k.block_bytes);
    k.simd(x.data() + 256, one_simd.data(), k.block_elements);
    k.scalar(x.data() + 256, one_scalar.data(), k.block_elements);
    ASSERT_TRUE(same_bytes(one_simd, one_scalar)) << k.name << ", one block";
  }
}

// Normal data at many scales, the common case, in bulk.
TEST_P(SimdTarget, QuantizersMatchScalarOnWeights) {
  const size_t n = 64 * 256;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i)
    x[i] = normal(rng) * std::ldexp(1.0f, static_cast<int>(i / 256) - 40);
  for (const QuantKernels& k : kQuantKernels) {
    const size_t bytes = n / k.block_elements * k.block_bytes;
    std::vector<std::byte> simd(bytes), scalar(bytes);
    k.simd(x.data(), simd.data(), n);
    k.scalar(x.data(), scalar.data(), n);
    ASSERT_TRUE(same_bytes(simd, scalar)) << k.name;
  }
}

TEST_P(SimdTarget, FirstNonfinite) {
  std::vector<float> x(1000, 1.0f);
  EXPECT_EQ(codec::detail::first_nonfinite_simd(x.data(), x.size()), x.size());
  for (size_t at : {0, 1, 63, 64, 500, 998, 999}) {
    for (uint32_t bad : {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFF800001u}) {
      std::vector<float> y = x;
      y[at] = from_bits(bad);
      if (at + 3 < y.size()) y[at + 3] = from_bits(0x7F800000u);  // a later one must not win
      EXPECT_EQ(codec::detail::first_nonfinite_simd(y.data(), y.size()), at);
      EXPECT_EQ(codec::detail::first_nonfinite_simd(y.data() + 1, y.size() - 1),
                at == 0 ? (y.size() > 4 ? 2u : y.size() - 1) : at - 1);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, SimdTarget, ::testing::ValuesIn(codec::detail::simd_targets()),
                         [](const ::testing::TestParamInfo<int64_t>& i) {
                           return codec::detail::simd_target_name(i.param);
                         });

}  // namespace
}  // namespace lorakit
