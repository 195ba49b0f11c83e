// Per-lane fp32 ↔ binary16 and fp32 ↔ bfloat16 for the Highway kernels (internal; included once per
// target like every Highway -inl.h): the integer recipes of half.hpp, step for step, so the bits
// equal the scalar ones for every input, NaNs included. Used by the F16/BF16 codecs, by the
// quantizers for their fp16 scale fields, and by the patch layer's fused tile kernels.

// Per-target include guard: this file is re-included for each target by foreach_target.h.
#if defined(LORAKIT_CODEC_SIMD_HALF_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef LORAKIT_CODEC_SIMD_HALF_INL_H_
#undef LORAKIT_CODEC_SIMD_HALF_INL_H_
#else
#define LORAKIT_CODEC_SIMD_HALF_INL_H_
#endif

#include "codec/half.hpp"
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lorakit::codec::detail::HWY_NAMESPACE {

// x86 targets from AVX2 up have F16C: hardware fp16 ↔ fp32, round to nearest even, the bits of the
// integer recipe for every non-NaN value. Kernels using it must send vectors holding a NaN through
// the integer recipe (F16C quiets signalling NaNs on widening and keeps payloads on narrowing;
// ggml does neither).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
inline constexpr bool kNativeF16 = true;
#else
inline constexpr bool kNativeF16 = false;
#endif

// The binary16 bits of each float lane, in the low 16 bits of an int32 lane (upper bits zero).
template <class DF>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::RebindToSigned<DF>> F32ToF16Bits(
    DF df, hwy::HWY_NAMESPACE::Vec<DF> v) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::RebindToSigned<DF> di;
  const auto u = hn::BitCast(di, v);
  const auto sign = hn::And(hn::ShiftRight<16>(u), hn::Set(di, 0x8000));  // arithmetic shift
  const auto a = hn::And(u, hn::Set(di, 0x7FFFFFFF));
  // fp16 normal range: rebias the exponent, round off 13 bits to nearest even.
  const auto t = hn::Sub(a, hn::Set(di, 0x38000000));
  const auto normal = hn::ShiftRight<13>(
      hn::Add(hn::Add(t, hn::Set(di, 0x0FFF)), hn::And(hn::ShiftRight<13>(t), hn::Set(di, 1))));
  // Below 2^-14: a count of 2^-24 units, rounded by one addition of 2^23.
  const auto units = hn::Mul(hn::BitCast(df, a), hn::Set(df, 16777216.0f));
  const auto sub = hn::Sub(hn::BitCast(di, hn::Add(units, hn::Set(df, kTwo23))),
                           hn::Set(di, static_cast<int32_t>(f32_bits(kTwo23))));
  auto r = hn::IfThenElse(hn::Lt(a, hn::Set(di, 0x38800000)), sub, normal);        // 2^-14
  r = hn::IfThenElse(hn::Gt(a, hn::Set(di, 0x477FEFFF)), hn::Set(di, 0x7C00), r);  // ≥ 65520: inf
  r = hn::IfThenElse(hn::Gt(a, hn::Set(di, 0x7F800000)), hn::Set(di, 0x7E00), r);  // NaN
  return hn::Or(r, sign);
}

// The float value of binary16 bits held in the low 16 bits of int32 lanes (upper bits zero).
template <class DF>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<DF> F16BitsToF32(
    DF df, hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::RebindToSigned<DF>> h) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::RebindToSigned<DF> di;
  const auto em = hn::And(h, hn::Set(di, 0x7FFF));
  const auto sign = hn::ShiftLeft<16>(hn::And(h, hn::Set(di, 0x8000)));
  const auto shifted = hn::ShiftLeft<13>(em);
  // Subnormals: a count of 2^-24 units, converted exactly.
  const auto sub =
      hn::BitCast(di, hn::Mul(hn::ConvertTo(df, em), hn::Set(df, 5.9604644775390625e-8f)));
  auto r = hn::IfThenElse(hn::Lt(em, hn::Set(di, 0x0400)), sub,
                          hn::Add(shifted, hn::Set(di, 0x38000000)));
  // Inf and NaN: the exponent all ones, payload kept.
  r = hn::IfThenElse(hn::Gt(em, hn::Set(di, 0x7BFF)), hn::Add(shifted, hn::Set(di, 0x70000000)), r);
  return hn::BitCast(df, hn::Or(r, sign));
}

// The bfloat16 bits (round to nearest even; NaN kept quiet) of each float lane, in the low 16 bits
// of an int32 lane (upper bits zero).
template <class DF>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::RebindToSigned<DF>> F32ToBF16Bits(
    DF /*df*/, hwy::HWY_NAMESPACE::Vec<DF> v) {
  namespace hn = hwy::HWY_NAMESPACE;
  const hn::RebindToUnsigned<DF> du;
  const hn::RebindToSigned<DF> di;
  // Unsigned lanes for the rounding add, which may wrap past 2^31 for negative inputs.
  const auto u = hn::BitCast(du, v);
  const auto hi = hn::ShiftRight<16>(u);
  const auto rounded =
      hn::ShiftRight<16>(hn::Add(hn::Add(u, hn::Set(du, 0x7FFFu)), hn::And(hi, hn::Set(du, 1u))));
  const auto is_nan = hn::RebindMask(
      du, hn::Gt(hn::And(hn::BitCast(di, u), hn::Set(di, 0x7FFFFFFF)), hn::Set(di, 0x7F800000)));
  return hn::BitCast(di, hn::IfThenElse(is_nan, hn::Or(hi, hn::Set(du, 0x0040u)), rounded));
}

// The float value of bfloat16 bits held in the low 16 bits of int32 lanes.
template <class DF>
HWY_INLINE hwy::HWY_NAMESPACE::Vec<DF> BF16BitsToF32(
    DF df, hwy::HWY_NAMESPACE::Vec<hwy::HWY_NAMESPACE::RebindToSigned<DF>> h) {
  namespace hn = hwy::HWY_NAMESPACE;
  return hn::BitCast(df, hn::ShiftLeft<16>(h));
}

}  // namespace lorakit::codec::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#endif  // LORAKIT_CODEC_SIMD_HALF_INL_H_
