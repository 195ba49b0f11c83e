// The block decoders on arbitrary blocks: the first byte picks the type, the rest is whole blocks.
// Every decodable type must decode without fault; the SIMD dequantizers must give the bits of their
// scalar twins (a NaN matching any NaN).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "codec/kernels.hpp"
#include "codec/simd.hpp"
#include "fuzz_targets.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/dtype.hpp"
#include "lorakit/error.hpp"

namespace {

using Fn = void (*)(const std::byte*, float*, size_t);
struct Twin {
  lorakit::DType type;
  Fn scalar, simd;
};

const Twin kTwins[] = {
    {lorakit::DType::Q8_0, lorakit::codec::detail::dequantize_q8_0,
     lorakit::codec::detail::dequantize_q8_0_simd},
    {lorakit::DType::Q4_0, lorakit::codec::detail::dequantize_q4_0,
     lorakit::codec::detail::dequantize_q4_0_simd},
    {lorakit::DType::Q4_1, lorakit::codec::detail::dequantize_q4_1,
     lorakit::codec::detail::dequantize_q4_1_simd},
    {lorakit::DType::Q5_0, lorakit::codec::detail::dequantize_q5_0,
     lorakit::codec::detail::dequantize_q5_0_simd},
    {lorakit::DType::Q5_1, lorakit::codec::detail::dequantize_q5_1,
     lorakit::codec::detail::dequantize_q5_1_simd},
    {lorakit::DType::Q2_K, lorakit::codec::detail::dequantize_q2_k,
     lorakit::codec::detail::dequantize_q2_k_simd},
    {lorakit::DType::Q3_K, lorakit::codec::detail::dequantize_q3_k,
     lorakit::codec::detail::dequantize_q3_k_simd},
    {lorakit::DType::Q4_K, lorakit::codec::detail::dequantize_q4_k,
     lorakit::codec::detail::dequantize_q4_k_simd},
    {lorakit::DType::Q5_K, lorakit::codec::detail::dequantize_q5_k,
     lorakit::codec::detail::dequantize_q5_k_simd},
    {lorakit::DType::Q6_K, lorakit::codec::detail::dequantize_q6_k,
     lorakit::codec::detail::dequantize_q6_k_simd},
    {lorakit::DType::F16, lorakit::codec::detail::decode_f16_scalar,
     lorakit::codec::detail::decode_f16_simd},
    {lorakit::DType::BF16, lorakit::codec::detail::decode_bf16_scalar,
     lorakit::codec::detail::decode_bf16_simd},
};

std::vector<lorakit::DType> decodable() {
  std::vector<lorakit::DType> out;
  for (const auto& t : lorakit::all_dtypes())
    if (lorakit::codec::can_decode(t.dtype)) out.push_back(t.dtype);
  return out;
}

}  // namespace

int lorakit::fuzz::decode(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const std::vector<lorakit::DType> types = decodable();
  const size_t pick = data[0];
  const std::byte* blocks = reinterpret_cast<const std::byte*>(data + 1);
  const size_t bytes = size - 1;
  constexpr size_t kTwins_n = sizeof(kTwins) / sizeof(kTwins[0]);
  if (pick < kTwins_n) {
    const Twin& t = kTwins[pick];
    const auto& tr = lorakit::traits(t.type);
    const size_t n = bytes / tr.block_bytes * tr.block_elements;
    if (n == 0) return 0;
    std::vector<float> a(n), b(n);
    t.scalar(blocks, a.data(), n);
    t.simd(blocks, b.data(), n);
    // Bits must agree, except that any NaN matches any NaN: a NaN scale or min makes NaN values
    // whose payload depends on the order of the operations (the spec fixes values, not payloads).
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(a[i]) && std::isnan(b[i])) continue;
      if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) std::abort();
    }
    return 0;
  }
  const lorakit::DType t = types[pick % types.size()];
  const auto& tr = lorakit::traits(t);
  const size_t n = bytes / tr.block_bytes * tr.block_elements;
  std::vector<float> out(n);
  try {
    lorakit::codec::decode(t, blocks, out.data(), n);
  } catch (const lorakit::Error&) {
  }
  return 0;
}

LORAKIT_FUZZ_ENTRY(decode)
