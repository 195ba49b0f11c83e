// Scalar binary16 and bfloat16 conversions (file-formats.md §4.1–§4.3) as constexpr inline
// functions, so that the quantizers and the scalar loops inline them and the fp8 tables can be
// built at compile time. The public lorakit::codec::fp32_to_fp16 & co. forward here; the SIMD
// versions in simd_convert.cpp perform exactly the same steps lane by lane, which is what makes
// them bit-identical.
#pragma once

#include <bit>
#include <cstdint>

namespace lorakit::codec::detail {

constexpr uint32_t f32_bits(float f) { return std::bit_cast<uint32_t>(f); }
constexpr float f32_from_bits(uint32_t u) { return std::bit_cast<float>(u); }

// 2^23: adding it to a non-negative float below 2^22 leaves the nearest integer (ties to even) in
// the low mantissa bits, because binary32 addition at that magnitude rounds to a unit step.
inline constexpr float kTwo23 = 8388608.0f;

// fp32 → binary16, round to nearest even, subnormals kept, overflow to ±inf, NaN → sign | 0x7E00
// (ggml). Worked on the bit pattern so that no float operation can round twice; the fp16-subnormal
// range uses one exact scaling and one rounding addition instead.
constexpr uint16_t f32_to_f16(float f) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7FFFFFFFu;
  if (a > 0x7F800000u) return static_cast<uint16_t>(sign | 0x7E00u);  // NaN: payload dropped
  if (a >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // ≥ 65520: rounds past 65504
  if (a >= 0x38800000u) {  // fp16 normal range (≥ 2^-14): rebias the exponent, round off 13 bits
    const uint32_t t = a - 0x38000000u;
    return static_cast<uint16_t>(sign | ((t + 0x0FFFu + ((t >> 13) & 1u)) >> 13));
  }
  // Below 2^-14: the result is a count of 2^-24 units. a·2^24 < 1024 is exact (a power-of-two
  // scaling of a value that cannot underflow); 1024 itself correctly becomes the smallest normal
  // 0x0400.
  const float units = f32_from_bits(a) * 16777216.0f;
  return static_cast<uint16_t>(sign | (f32_bits(units + kTwo23) - f32_bits(kTwo23)));
}

// binary16 → fp32, exact. NaN payloads are widened as they are (no quieting), like ggml's portable
// code.
constexpr float f16_to_f32(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t em = h & 0x7FFFu;
  if (em < 0x0400u) {  // zero or subnormal: em·2^-24, exact in binary32
    return f32_from_bits(f32_bits(static_cast<float>(em) * 5.9604644775390625e-8f) | sign);
  }
  // Rebias 15 → 127; inf and NaN (exponent 31) go to exponent 255.
  const uint32_t rebias = em >= 0x7C00u ? 0x70000000u : 0x38000000u;
  return f32_from_bits(sign | ((em << 13) + rebias));
}

// fp32 → bfloat16, round to nearest even on the bit pattern (overflow to inf, no flush to zero);
// NaN → (bits >> 16) | 0x0040, keeping sign and top payload bits (ggml, §4.3).
constexpr uint16_t f32_to_bf16(float f) {
  const uint32_t u = f32_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

constexpr float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

}  // namespace lorakit::codec::detail
