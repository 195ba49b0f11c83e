// Exact rounding helpers of the reference quantizers (file-formats.md §4.4) and the little-endian
// load/store helpers shared by the block codecs. Everything here is exact for every finite input;
// the reference's own tricks are valid only on part of the range.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "codec/half.hpp"

namespace lorakit::codec::detail {

static_assert(std::endian::native == std::endian::little,
              "the codecs read and write little-endian fields with plain loads");

// A group whose largest magnitude is below this counts as all zero (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

// Nearest integer, halves away from zero (C roundf). Not ⌊|v| + 0.5⌋, which is wrong for
// 0.49999997: the fraction v − trunc(v) is exact for every float, so comparing it with 0.5 is exact
// too.
inline int32_t roundaway(float v) {
  if (!(std::fabs(v) < 8388608.0f))
      [[unlikely]] {  // from 2^23 up every float is an integer already
    if (v >= 2147483648.0f) return INT32_MAX;
    if (v > -2147483648.0f) return static_cast<int32_t>(v);
    return INT32_MIN;  // also NaN (0·inf in a degenerate block), as x86's cvttss2si gives
  }
  const int32_t t = static_cast<int32_t>(v);  // truncation toward zero
  const float frac = v - static_cast<float>(t);
  // Comparisons as 0/1 rather than branches: on real data the direction is a coin flip.
  return t + static_cast<int32_t>(frac >= 0.5f) - static_cast<int32_t>(frac <= -0.5f);
}

// Nearest integer, halves to even (ggml's nearest_int). Below 2^22 in magnitude, adding 1.5·2^23
// rounds in binary32 at a unit step with ties to even, which is exactly RNE; the reference asserts
// that range. Outside it the value saturates, which every caller then clamps to its small code
// range anyway.
inline int32_t rne(float v) {
  if (std::fabs(v) < 4194304.0f) {
    const float t = v + 12582912.0f;
    return static_cast<int32_t>(f32_bits(t) & 0x7FFFFFu) - 0x400000;
  }
  return v > 0 ? (1 << 30) : -(1 << 30);
}

// Truncation toward zero, as the C casts of the legacy quantizers do. Out of range (and NaN, which
// a block of subnormal-sized values can produce through an infinite reciprocal) the C cast is
// undefined; this gives INT32_MIN there, what x86's cvttss2si returns and so what the reference
// build computes, and what the SIMD kernels reproduce.
inline int32_t trunc_int(float v) {
  return std::fabs(v) < 2147483648.0f ? static_cast<int32_t>(v) : INT32_MIN;
}

inline int32_t clampi(int32_t v, int32_t lo, int32_t hi) { return std::min(hi, std::max(lo, v)); }

inline uint16_t load_u16(const std::byte* p) {
  uint16_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline uint32_t load_u32(const std::byte* p) {
  uint32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store_u16(std::byte* p, uint16_t v) { std::memcpy(p, &v, sizeof v); }
inline void store_u32(std::byte* p, uint32_t v) { std::memcpy(p, &v, sizeof v); }

// A stored binary16 field widened back to binary32: the h(·) of §5.1.
inline float load_f16(const std::byte* p) { return f16_to_f32(load_u16(p)); }
inline void store_f16(std::byte* p, float v) { store_u16(p, f32_to_f16(v)); }

inline uint8_t u8(const std::byte* p) { return static_cast<uint8_t>(*p); }

}  // namespace lorakit::codec::detail
