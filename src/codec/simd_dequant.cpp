// Highway dequantizers for Q8_0 and Q4_K, the block types most often read in bulk. Per element they
// perform the scalar kernel's operations in the same order (one int→float conversion, one product,
// then for Q4_K one subtraction of the group's precomputed dmin·mn), so the bits are identical.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "codec/simd_dequant.cpp"
#include "codec/kernels.hpp"
#include "codec/rounding.hpp"
#include "codec/simd.hpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace lorakit::codec::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Vectors of at most 32 lanes, so that a 32-element run is a whole number of vectors.
using DF = hn::CappedTag<float, 32>;

void DequantizeQ8_0(const std::byte* src, float* dst, size_t n) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<int8_t, DF> di8;
  const size_t N = hn::Lanes(df);
  for (size_t b = 0; b < n / 32; ++b) {
    const std::byte* in = src + b * 34;
    float* y = dst + b * 32;
    const auto d = hn::Set(df, load_f16(in));
    const auto* qs = reinterpret_cast<const int8_t*>(in + 2);
    for (size_t j = 0; j < 32; j += N) {
      const auto q = hn::ConvertTo(df, hn::PromoteTo(di, hn::LoadU(di8, qs + j)));
      hn::StoreU(hn::Mul(q, d), df, y + j);
    }
  }
}

void DequantizeQ4_K(const std::byte* src, float* dst, size_t n) {
  const DF df;
  const hn::RebindToSigned<DF> di;
  const hn::Rebind<uint8_t, DF> du8;
  const size_t N = hn::Lanes(df);
  const auto k15 = hn::Set(di, 15);
  for (size_t b = 0; b < n / 256; ++b) {
    const std::byte* in = src + b * 144;
    float* y = dst + b * 256;
    const float d = load_f16(in), dmin = load_f16(in + 2);
    uint8_t scales[12];
    std::memcpy(scales, in + 4, 12);
    const auto* qs = reinterpret_cast<const uint8_t*>(in + 16);
    // Groups 2k and 2k+1 share the 32 bytes qs[32k..32k+31]: low nibbles, then high nibbles.
    for (int k = 0; k < 4; ++k) {
      uint8_t sc0, mn0, sc1, mn1;
      unpack_k4(scales, 2 * k, &sc0, &mn0);
      unpack_k4(scales, 2 * k + 1, &sc1, &mn1);
      const auto d0 = hn::Set(df, d * static_cast<float>(sc0));
      const auto m0 = hn::Set(df, dmin * static_cast<float>(mn0));
      const auto d1 = hn::Set(df, d * static_cast<float>(sc1));
      const auto m1 = hn::Set(df, dmin * static_cast<float>(mn1));
      for (size_t j = 0; j < 32; j += N) {
        const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, qs + 32 * k + j));
        const auto lo = hn::ConvertTo(df, hn::And(bytes, k15));
        const auto hi = hn::ConvertTo(df, hn::ShiftRight<4>(bytes));
        hn::StoreU(hn::Sub(hn::Mul(lo, d0), m0), df, y + 64 * k + j);
        hn::StoreU(hn::Sub(hn::Mul(hi, d1), m1), df, y + 64 * k + 32 + j);
      }
    }
  }
}

}  // namespace lorakit::codec::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorakit::codec::detail {

HWY_EXPORT(DequantizeQ8_0);
HWY_EXPORT(DequantizeQ4_K);

void dequantize_q8_0_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ8_0)(src, dst, n);
}
void dequantize_q4_k_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_K)(src, dst, n);
}

}  // namespace lorakit::codec::detail
#endif  // HWY_ONCE
