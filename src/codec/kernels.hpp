// The per-type kernels behind lorakit::codec::decode/encode (internal). Every kernel works on `n`
// elements, a whole number of blocks, reads `src` unaligned and writes `dst` unaligned. The block
// quantizers expect finite input: the dispatcher (dispatch.cpp) rejects non-finite values first.
//
// The scalar kernels are the definition; the *_simd kernels (simd.hpp) must give identical bits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lorakit/codec.hpp"

namespace lorakit::codec::detail {

using DecodeFn = void (*)(const std::byte* src, float* dst, size_t n);
using EncodeFn = void (*)(const float* src, std::byte* dst, size_t n, const EncodeOptions& opt);

// float_convert.cpp: plain float types.
void decode_f32(const std::byte* src, float* dst, size_t n);
void encode_f32(const float* src, std::byte* dst, size_t n);
void decode_f64(const std::byte* src, float* dst, size_t n);
void encode_f64(const float* src, std::byte* dst, size_t n);
void decode_f16_scalar(const std::byte* src, float* dst, size_t n);
void encode_f16_scalar(const float* src, std::byte* dst, size_t n);
void decode_bf16_scalar(const std::byte* src, float* dst, size_t n);
void encode_bf16_scalar(const float* src, std::byte* dst, size_t n);

// int_convert.cpp: integers and bool, decoded to their value (rounded to nearest even when it has
// more than 24 significant bits).
void decode_bool(const std::byte* src, float* dst, size_t n);
void decode_u8(const std::byte* src, float* dst, size_t n);
void decode_i8(const std::byte* src, float* dst, size_t n);
void decode_u16(const std::byte* src, float* dst, size_t n);
void decode_i16(const std::byte* src, float* dst, size_t n);
void decode_u32(const std::byte* src, float* dst, size_t n);
void decode_i32(const std::byte* src, float* dst, size_t n);
void decode_u64(const std::byte* src, float* dst, size_t n);
void decode_i64(const std::byte* src, float* dst, size_t n);

// fp8.cpp
void decode_e4m3fn(const std::byte* src, float* dst, size_t n);
void decode_e5m2(const std::byte* src, float* dst, size_t n);
void encode_e4m3fn(const float* src, std::byte* dst, size_t n, Fp8Overflow mode);
void encode_e5m2(const float* src, std::byte* dst, size_t n, Fp8Overflow mode);

// quant_legacy.cpp: 32-element blocks (§5.2).
void dequantize_q8_0(const std::byte* src, float* dst, size_t n);
void dequantize_q4_0(const std::byte* src, float* dst, size_t n);
void dequantize_q4_1(const std::byte* src, float* dst, size_t n);
void dequantize_q5_0(const std::byte* src, float* dst, size_t n);
void dequantize_q5_1(const std::byte* src, float* dst, size_t n);
void quantize_q8_0(const float* src, std::byte* dst, size_t n);
void quantize_q4_0(const float* src, std::byte* dst, size_t n);
void quantize_q4_1(const float* src, std::byte* dst, size_t n);
void quantize_q5_0(const float* src, std::byte* dst, size_t n);
void quantize_q5_1(const float* src, std::byte* dst, size_t n);

// quant_k.cpp: 256-element super-blocks (§5.3).
void dequantize_q2_k(const std::byte* src, float* dst, size_t n);
void dequantize_q3_k(const std::byte* src, float* dst, size_t n);
void dequantize_q4_k(const std::byte* src, float* dst, size_t n);
void dequantize_q5_k(const std::byte* src, float* dst, size_t n);
void dequantize_q6_k(const std::byte* src, float* dst, size_t n);
void quantize_q2_k(const float* src, std::byte* dst, size_t n);
void quantize_q3_k(const float* src, std::byte* dst, size_t n);
void quantize_q4_k(const float* src, std::byte* dst, size_t n);
void quantize_q5_k(const float* src, std::byte* dst, size_t n);
void quantize_q6_k(const float* src, std::byte* dst, size_t n);

// The (scale, min) pair of 6-bit codes of group j (0..7) of a Q4_K/Q5_K super-block, from its 12
// scale bytes (§5.3.1 unpack_k4). Shared by the scalar and SIMD dequantizers and the quantizers.
inline void unpack_k4(const uint8_t* scales, int j, uint8_t* sc, uint8_t* mn) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *mn = scales[j + 4] & 63;
  } else {
    *sc = static_cast<uint8_t>((scales[j + 4] & 15) | ((scales[j - 4] >> 6) << 4));
    *mn = static_cast<uint8_t>((scales[j + 4] >> 4) | ((scales[j] >> 6) << 4));
  }
}

}  // namespace lorakit::codec::detail
