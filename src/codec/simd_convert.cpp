// Highway kernels for F16 ↔ F32, BF16 ↔ F32 and F32 → FP8, compiled once per SIMD target and chosen
// at run time (foreach_target.h + HWY_DYNAMIC_DISPATCH). They do not use the F16C instructions:
// those keep NaN payloads (ggml drops them) and Highway's fallback for targets without F16C does
// not round to nearest even. Instead each lane runs the integer recipe of half.hpp, so every target
// gives the scalar bits.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "codec/simd_convert.cpp"
#include "codec/half.hpp"
#include "codec/rounding.hpp"
#include "codec/simd.hpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "lorakit/codec.hpp"
// After highway.h, so that it is re-included per target.
#include "codec/simd_half-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lorakit::codec::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void DecodeF16(const std::byte* src_bytes, float* dst, size_t n) {
  const hn::ScalableTag<int32_t> di;
  const hn::Rebind<float, decltype(di)> df;
  const hn::Rebind<uint16_t, decltype(di)> du16;
  const hn::Rebind<hwy::float16_t, decltype(di)> dh;
  const auto* src = reinterpret_cast<const uint16_t*>(src_bytes);
  const size_t N = hn::Lanes(di);
  const auto k7fff = hn::Set(du16, 0x7FFF);
  const auto kInf = hn::Set(du16, 0x7C00);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto raw = hn::LoadU(du16, src + i);
    if (kNativeF16 && hn::AllFalse(du16, hn::Gt(hn::And(raw, k7fff), kInf))) {
      hn::StoreU(hn::PromoteTo(df, hn::BitCast(dh, raw)), df, dst + i);
    } else {
      hn::StoreU(F16BitsToF32(df, hn::PromoteTo(di, raw)), df, dst + i);
    }
  }
  // The tails use the scalar definition, through memcpy because the buffers may be unaligned.
  for (; i < n; ++i) dst[i] = f16_to_f32(load_u16(src_bytes + 2 * i));
}

void EncodeF16(const float* src, std::byte* dst_bytes, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  const hn::Rebind<hwy::float16_t, decltype(df)> dh;
  auto* dst = reinterpret_cast<uint16_t*>(dst_bytes);
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto v = hn::LoadU(df, src + i);
    if (kNativeF16 && hn::AllFalse(df, hn::IsNaN(v))) {
      hn::StoreU(hn::BitCast(du16, hn::DemoteTo(dh, v)), du16, dst + i);
    } else {
      hn::StoreU(hn::DemoteTo(du16, F32ToF16Bits(df, v)), du16, dst + i);
    }
  }
  for (; i < n; ++i) store_u16(dst_bytes + 2 * i, f32_to_f16(src[i]));
}

void DecodeBF16(const std::byte* src_bytes, float* dst, size_t n) {
  const hn::ScalableTag<int32_t> di;
  const hn::Rebind<float, decltype(di)> df;
  const hn::Rebind<uint16_t, decltype(di)> du16;
  const auto* src = reinterpret_cast<const uint16_t*>(src_bytes);
  const size_t N = hn::Lanes(di);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(BF16BitsToF32(df, hn::PromoteTo(di, hn::LoadU(du16, src + i))), df, dst + i);
  }
  for (; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src_bytes + 2 * i));
}

void EncodeBF16(const float* src, std::byte* dst_bytes, size_t n) {
  const hn::ScalableTag<float> df;
  const hn::Rebind<uint16_t, decltype(df)> du16;
  auto* dst = reinterpret_cast<uint16_t*>(dst_bytes);
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    hn::StoreU(hn::DemoteTo(du16, F32ToBF16Bits(df, hn::LoadU(df, src + i))), du16, dst + i);
  }
  for (; i < n; ++i) store_u16(dst_bytes + 2 * i, f32_to_bf16(src[i]));
}

// fp32 → fp8 (e4m3fn or e5m2), the branch-free bit recipe of encode_fp8 (fp8.cpp) lane by lane:
// rebias and round to nearest even on the bit pattern for normal results, one exact scaling and one
// rounding addition for subnormal ones, then overflow (per mode) and NaN. Lanes compute both
// candidates and select, as the scalar code does with masks, so every lane gives the scalar bits.
template <int kMant, int kBias, int32_t kMaxCode, int32_t kOverflowCast>
void EncodeFp8(const float* src, std::byte* dst_bytes, size_t n, bool saturate) {
  const hn::ScalableTag<int32_t> di;
  const hn::Rebind<float, decltype(di)> df;
  const hn::Rebind<uint8_t, decltype(di)> du8;
  auto* dst = reinterpret_cast<uint8_t*>(dst_bytes);
  const size_t N = hn::Lanes(di);
  constexpr int kShift = 23 - kMant;
  const auto kAbs = hn::Set(di, 0x7FFFFFFF);
  const auto kRebias = hn::Set(di, (127 - kBias) << 23);
  const auto kHalfMinus1 = hn::Set(di, (1 << (kShift - 1)) - 1);
  const auto kOne = hn::Set(di, 1);
  const auto kMinNormal = hn::Set(di, (127 + 1 - kBias) << 23);
  // 2^(bias − 1 + mantissa bits): one unit of the smallest subnormal becomes 1.
  const auto kUnitScale =
      hn::Set(df, f32_from_bits(static_cast<uint32_t>(127 + kBias - 1 + kMant) << 23));
  const auto kTwo23f = hn::Set(df, kTwo23);
  const auto kTwo23i = hn::Set(di, static_cast<int32_t>(f32_bits(kTwo23)));
  const auto kMax = hn::Set(di, kMaxCode);
  const auto kPast = hn::Set(di, saturate ? kMaxCode : kOverflowCast);
  const auto kInf = hn::Set(di, 0x7F800000);
  const auto kNaN = hn::Set(di, 0x7F);
  const auto kSign = hn::Set(di, 0x80);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto u = hn::BitCast(di, hn::LoadU(df, src + i));
    const auto sign = hn::And(hn::ShiftRight<24>(u), kSign);
    const auto a = hn::And(u, kAbs);
    // Below the normal range t is negative here (unsigned garbage in the scalar code): either way
    // the lane is not selected.
    const auto t = hn::Sub(a, kRebias);
    const auto normal = hn::ShiftRight<kShift>(
        hn::Add(hn::Add(t, kHalfMinus1), hn::And(hn::ShiftRight<kShift>(t), kOne)));
    const auto units = hn::Mul(hn::BitCast(df, a), kUnitScale);
    const auto subnormal = hn::Sub(hn::BitCast(di, hn::Add(units, kTwo23f)), kTwo23i);
    auto code = hn::IfThenElse(hn::Lt(a, kMinNormal), subnormal, normal);
    code = hn::IfThenElse(hn::Gt(code, kMax), kPast, code);
    code = hn::IfThenElse(hn::Gt(a, kInf), kNaN, code);
    hn::StoreU(hn::DemoteTo(du8, hn::Or(code, sign)), du8, dst + i);
  }
  const Fp8Overflow mode = saturate ? Fp8Overflow::Saturate : Fp8Overflow::Cast;
  for (; i < n; ++i) {
    dst[i] = kBias == 7 ? fp32_to_e4m3fn(src[i], mode) : fp32_to_e5m2(src[i], mode);
  }
}

void EncodeE4M3fn(const float* src, std::byte* dst, size_t n, bool saturate) {
  EncodeFp8<3, 7, 0x7E, 0x7F>(src, dst, n, saturate);
}
void EncodeE5M2(const float* src, std::byte* dst, size_t n, bool saturate) {
  EncodeFp8<2, 15, 0x7B, 0x7C>(src, dst, n, saturate);
}

// Which target's code runs: lets the tests confirm that forcing a target took effect.
int64_t CurrentTarget() { return HWY_TARGET; }

}  // namespace lorakit::codec::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorakit::codec::detail {

HWY_EXPORT(DecodeF16);
HWY_EXPORT(EncodeF16);
HWY_EXPORT(DecodeBF16);
HWY_EXPORT(EncodeBF16);
HWY_EXPORT(EncodeE4M3fn);
HWY_EXPORT(EncodeE5M2);
HWY_EXPORT(CurrentTarget);

void decode_f16_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DecodeF16)(src, dst, n);
}
void encode_f16_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(EncodeF16)(src, dst, n);
}
void decode_bf16_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DecodeBF16)(src, dst, n);
}
void encode_bf16_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(EncodeBF16)(src, dst, n);
}

void encode_e4m3fn_simd(const float* src, std::byte* dst, size_t n, Fp8Overflow mode) {
  HWY_DYNAMIC_DISPATCH(EncodeE4M3fn)(src, dst, n, mode == Fp8Overflow::Saturate);
}
void encode_e5m2_simd(const float* src, std::byte* dst, size_t n, Fp8Overflow mode) {
  HWY_DYNAMIC_DISPATCH(EncodeE5M2)(src, dst, n, mode == Fp8Overflow::Saturate);
}

int64_t simd_dispatched_target() { return HWY_DYNAMIC_DISPATCH(CurrentTarget)(); }
std::vector<int64_t> simd_targets() { return hwy::SupportedAndGeneratedTargets(); }
std::string simd_target_name(int64_t target) { return hwy::TargetName(target); }
void force_simd_target(int64_t target) {
  hwy::SetSupportedTargetsForTest(target);
  // Make the next HWY_DYNAMIC_DISPATCH choose again among the (mocked) supported targets.
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

}  // namespace lorakit::codec::detail
#endif  // HWY_ONCE
