// FP8 (float8_e4m3fn and float8_e5m2) ↔ fp32 (file-formats.md §6). Decoding goes through 256-entry
// tables built at compile time. Encoding rounds to nearest even on the fp8 grid, subnormals
// included, and then handles magnitudes past the largest finite value per Fp8Overflow: Cast
// reproduces PyTorch's c10 cast (e4m3fn → NaN, e5m2 → ±inf, §6.3); Saturate is lorakit's "nearest"
// mode (±max finite, §6.5). Saturate also maps ±inf to ±max; NaN stays NaN in both modes (it is no
// magnitude to clamp).
#include <array>

#include "codec/half.hpp"
#include "codec/kernels.hpp"
#include "lorakit/codec.hpp"

namespace lorakit::codec {
namespace detail {
namespace {

struct Fp8Format {
  int mantissa_bits;
  int bias;
  uint32_t max_code;       // magnitude code of the largest finite value
  uint32_t overflow_cast;  // magnitude code a PyTorch cast gives past the range
};
constexpr Fp8Format kE4M3fn{3, 7, 0x7E, 0x7F};  // 448; no inf, so overflow is NaN
constexpr Fp8Format kE5M2{2, 15, 0x7B, 0x7C};   // 57344; overflow is inf

// Works on the bit pattern like f32_to_f16 (half.hpp), for the same reason: one rounding, no double
// rounding through an intermediate float. Rounding carries into the exponent field, so the first
// code past the largest finite one is detected after rounding, which places the overflow threshold
// exactly at the tie: 464 ties to even 448 for e4m3fn, 61440 ties up for e5m2 (its max 57344 has an
// odd code).
constexpr uint8_t encode_fp8(float f, const Fp8Format& fmt, Fp8Overflow mode) {
  const uint32_t u = f32_bits(f);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  const uint32_t min_normal = static_cast<uint32_t>(127 + 1 - fmt.bias) << 23;
  // Every candidate is computed and one selected with masks, without a branch: weights straddle the
  // normal/subnormal boundary of e4m3fn (2^-6), so a branch would mispredict half the time (and the
  // compiler turns a plain ?: back into one). Branch-free, the loops also vectorise.
  const int shift = 23 - fmt.mantissa_bits;
  const uint32_t t = a - (static_cast<uint32_t>(127 - fmt.bias) << 23);  // rebias the exponent
  const uint32_t normal = (t + ((1u << (shift - 1)) - 1u) + ((t >> shift) & 1u)) >> shift;
  // Subnormal range: a count of the smallest subnormal. Scaling by a power of two is exact and the
  // count is < 2^mantissa_bits; adding 2^23 rounds it to an integer with ties to even. A count
  // equal to 2^mantissa_bits is the smallest normal code, as it should be. (For large a the product
  // is meaningless or inf, and not selected.)
  const float units =
      f32_from_bits(a) *
      f32_from_bits(static_cast<uint32_t>(127 + fmt.bias - 1 + fmt.mantissa_bits) << 23);
  const uint32_t subnormal = f32_bits(units + kTwo23) - f32_bits(kTwo23);
  const uint32_t is_normal = 0u - static_cast<uint32_t>(a >= min_normal);
  uint32_t code = (normal & is_normal) | (subnormal & ~is_normal);
  const uint32_t overflow = 0u - static_cast<uint32_t>(code > fmt.max_code);
  const uint32_t past = mode == Fp8Overflow::Saturate ? fmt.max_code : fmt.overflow_cast;
  code = (past & overflow) | (code & ~overflow);
  const uint32_t is_nan = 0u - static_cast<uint32_t>(a > 0x7F800000u);  // 0x7F in both formats
  code = (0x7Fu & is_nan) | (code & ~is_nan);
  return static_cast<uint8_t>(sign | code);
}

constexpr float decode_e4m3fn_value(uint8_t b) {
  const uint32_t sign = static_cast<uint32_t>(b & 0x80) << 24;
  const uint32_t e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7) return f32_from_bits(sign | 0x7FC00000u);
  if (e == 0)
    return f32_from_bits(f32_bits(static_cast<float>(m) * 0.001953125f) | sign);  // m·2^-9
  return f32_from_bits(sign | ((e - 7 + 127) << 23) | (m << 20));
}

// e5m2 is the upper byte of a binary16 with the same exponent bias: widen through it.
constexpr float decode_e5m2_value(uint8_t b) { return f16_to_f32(static_cast<uint16_t>(b << 8)); }

template <float (*F)(uint8_t)>
constexpr std::array<float, 256> make_table() {
  std::array<float, 256> t{};
  for (int i = 0; i < 256; ++i) t[i] = F(static_cast<uint8_t>(i));
  return t;
}
constexpr std::array<float, 256> kE4M3fnTable = make_table<decode_e4m3fn_value>();
constexpr std::array<float, 256> kE5M2Table = make_table<decode_e5m2_value>();

// Spot checks of the formats' landmarks (§6.1); the full tables are tested against testdata/fp8.
static_assert(kE4M3fnTable[0x7E] == 448.0f && kE4M3fnTable[0x01] == 0.001953125f);
static_assert(kE5M2Table[0x7B] == 57344.0f && kE5M2Table[0x01] == 1.52587890625e-05f);
static_assert(encode_fp8(464.0f, kE4M3fn, Fp8Overflow::Cast) == 0x7E);
static_assert(encode_fp8(61440.0f, kE5M2, Fp8Overflow::Cast) == 0x7C);

}  // namespace

void decode_e4m3fn(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = kE4M3fnTable[static_cast<uint8_t>(src[i])];
}
void decode_e5m2(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = kE5M2Table[static_cast<uint8_t>(src[i])];
}
void encode_e4m3fn(const float* src, std::byte* dst, size_t n, Fp8Overflow mode) {
  for (size_t i = 0; i < n; ++i) dst[i] = std::byte{encode_fp8(src[i], kE4M3fn, mode)};
}
void encode_e5m2(const float* src, std::byte* dst, size_t n, Fp8Overflow mode) {
  for (size_t i = 0; i < n; ++i) dst[i] = std::byte{encode_fp8(src[i], kE5M2, mode)};
}

}  // namespace detail

uint8_t fp32_to_e4m3fn(float f, Fp8Overflow mode) {
  return detail::encode_fp8(f, detail::kE4M3fn, mode);
}
uint8_t fp32_to_e5m2(float f, Fp8Overflow mode) {
  return detail::encode_fp8(f, detail::kE5M2, mode);
}
float e4m3fn_to_fp32(uint8_t b) { return detail::kE4M3fnTable[b]; }
float e5m2_to_fp32(uint8_t b) { return detail::kE5M2Table[b]; }

}  // namespace lorakit::codec
