// Highway dequantizers of the block types. Per element they perform the scalar kernel's operations
// in the same order (one int→float conversion, one product with the block's or group's scale, then
// for the affine types one addition or subtraction of the precomputed offset), so the bits are
// identical.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "codec/simd_dequant.cpp"
#include <cstring>

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

// ------------------------------------------------------------------------------------------------
// The remaining block types. At most 16 lanes, so that a run of N elements never straddles a
// 16-element group (and N divides 16).
using D16 = hn::CappedTag<float, 16>;

// Legacy 4/5-bit blocks: byte j holds element j (low nibble) and element j + 16 (high nibble); for
// the 5-bit types bit j of the u32 qh is bit 4 of element j. y = (q − offset)·d, or q·d + m.
template <bool kFiveBit, bool kAffine>
void DequantizeLegacy(const std::byte* src, float* dst, size_t n) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::RebindToUnsigned<D16> du;
  const hn::Rebind<uint8_t, D16> du8;
  const size_t N = hn::Lanes(df);
  constexpr size_t kBytes = 18 + (kFiveBit ? 4 : 0) + (kAffine ? 2 : 0);
  constexpr size_t kQs = 2 + (kAffine ? 2 : 0) + (kFiveBit ? 4 : 0);
  const auto k15 = hn::Set(di, 15);
  const auto offset = hn::Set(di, kAffine ? 0 : (kFiveBit ? 16 : 8));
  const auto lane_bit = hn::Shl(hn::Set(du, 1u), hn::Iota(du, 0));
  for (size_t b = 0; b < n / 32; ++b) {
    const std::byte* in = src + b * kBytes;
    float* y = dst + b * 32;
    const auto d = hn::Set(df, load_f16(in));
    const auto m = hn::Set(df, kAffine ? load_f16(in + 2) : 0.0f);
    const uint32_t qh = kFiveBit ? load_u32(in + (kAffine ? 4 : 2)) : 0;
    const auto* qs = reinterpret_cast<const uint8_t*>(in + kQs);
    for (size_t j = 0; j < 16; j += N) {
      const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, qs + j));
      auto lo = hn::And(bytes, k15), hi = hn::ShiftRight<4>(bytes);
      if constexpr (kFiveBit) {
        const auto h_lo = hn::Ne(hn::And(hn::Set(du, qh >> j), lane_bit), hn::Zero(du));
        const auto h_hi = hn::Ne(hn::And(hn::Set(du, qh >> (j + 16)), lane_bit), hn::Zero(du));
        lo = hn::Or(lo, hn::IfThenElseZero(hn::RebindMask(di, h_lo), hn::Set(di, 16)));
        hi = hn::Or(hi, hn::IfThenElseZero(hn::RebindMask(di, h_hi), hn::Set(di, 16)));
      }
      const auto flo = hn::ConvertTo(df, hn::Sub(lo, offset));
      const auto fhi = hn::ConvertTo(df, hn::Sub(hi, offset));
      if constexpr (kAffine) {
        hn::StoreU(hn::Add(hn::Mul(flo, d), m), df, y + j);
        hn::StoreU(hn::Add(hn::Mul(fhi, d), m), df, y + j + 16);
      } else {
        hn::StoreU(hn::Mul(flo, d), df, y + j);
        hn::StoreU(hn::Mul(fhi, d), df, y + j + 16);
      }
    }
  }
}

void DequantizeQ4_0(const std::byte* src, float* dst, size_t n) {
  DequantizeLegacy<false, false>(src, dst, n);
}
void DequantizeQ4_1(const std::byte* src, float* dst, size_t n) {
  DequantizeLegacy<false, true>(src, dst, n);
}
void DequantizeQ5_0(const std::byte* src, float* dst, size_t n) {
  DequantizeLegacy<true, false>(src, dst, n);
}
void DequantizeQ5_1(const std::byte* src, float* dst, size_t n) {
  DequantizeLegacy<true, true>(src, dst, n);
}

// Q2_K: element 128c + 32s + l has its code in bits 2s of qs[32c + l]; y = dl·q − ml per
// 16-element group, dl = d·(scale & 15), ml = dmin·(scale >> 4).
void DequantizeQ2_K(const std::byte* src, float* dst, size_t n) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::Rebind<uint8_t, D16> du8;
  const size_t N = hn::Lanes(df);
  const auto k3 = hn::Set(di, 3);
  for (size_t b = 0; b < n / 256; ++b) {
    const std::byte* in = src + b * 84;
    float* y = dst + b * 256;
    const float d = load_f16(in + 80), dmin = load_f16(in + 82);
    const auto* qs = reinterpret_cast<const uint8_t*>(in + 16);
    for (size_t c = 0; c < 2; ++c) {
      for (size_t l = 0; l < 32; l += N) {
        const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, qs + 32 * c + l));
        for (int s = 0; s < 4; ++s) {
          const size_t e = 128 * c + 32 * s + l;
          const uint8_t code = u8(in + e / 16);
          const auto dl = hn::Set(df, d * static_cast<float>(code & 15));
          const auto ml = hn::Set(df, dmin * static_cast<float>(code >> 4));
          const auto q = hn::And(hn::ShiftRightSame(bytes, 2 * s), k3);
          hn::StoreU(hn::Sub(hn::Mul(dl, hn::ConvertTo(df, q)), ml), df, y + e);
        }
      }
    }
  }
}

// Q3_K: as Q2_K for the low 2 bits (qs @32); bit 4c + s of hmask[l] set means no −4 offset;
// y = dl·q with dl = d·(6-bit scale code − 32).
void DequantizeQ3_K(const std::byte* src, float* dst, size_t n) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::Rebind<uint8_t, D16> du8;
  const size_t N = hn::Lanes(df);
  const auto k3 = hn::Set(di, 3);
  const auto k4 = hn::Set(di, 4);
  const auto k1 = hn::Set(di, 1);
  for (size_t b = 0; b < n / 256; ++b) {
    const std::byte* in = src + b * 110;
    float* y = dst + b * 256;
    const float d = load_f16(in + 108);
    uint8_t sc[12];
    std::memcpy(sc, in + 96, 12);
    float dl[16];
    for (int j = 0; j < 16; ++j) {
      const int lo = j < 8 ? (sc[j] & 15) : (sc[j - 8] >> 4);
      const int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
      dl[j] = d * static_cast<float>((lo | (hi << 4)) - 32);
    }
    const auto* hm = reinterpret_cast<const uint8_t*>(in);
    const auto* qs = reinterpret_cast<const uint8_t*>(in + 32);
    for (size_t c = 0; c < 2; ++c) {
      for (size_t l = 0; l < 32; l += N) {
        const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, qs + 32 * c + l));
        const auto hbytes = hn::PromoteTo(di, hn::LoadU(du8, hm + l));
        for (int s = 0; s < 4; ++s) {
          const size_t e = 128 * c + 32 * s + l;
          const auto low = hn::And(hn::ShiftRightSame(bytes, 2 * s), k3);
          const auto hb = hn::And(hn::ShiftRightSame(hbytes, static_cast<int>(4 * c) + s), k1);
          const auto q = hn::Sub(low, hn::IfThenZeroElse(hn::Eq(hb, k1), k4));
          hn::StoreU(hn::Mul(hn::Set(df, dl[e / 16]), hn::ConvertTo(df, q)), df, y + e);
        }
      }
    }
  }
}

// Q5_K: Q4_K's nibbles (qs @48) plus bit e / 32 of qh[e % 32] (qh @16) as bit 4.
void DequantizeQ5_K(const std::byte* src, float* dst, size_t n) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::Rebind<uint8_t, D16> du8;
  const size_t N = hn::Lanes(df);
  const auto k15 = hn::Set(di, 15);
  const auto k1 = hn::Set(di, 1);
  for (size_t b = 0; b < n / 256; ++b) {
    const std::byte* in = src + b * 176;
    float* y = dst + b * 256;
    const float d = load_f16(in), dmin = load_f16(in + 2);
    uint8_t scales[12];
    std::memcpy(scales, in + 4, 12);
    const auto* qh = reinterpret_cast<const uint8_t*>(in + 16);
    const auto* qs = reinterpret_cast<const uint8_t*>(in + 48);
    for (int k = 0; k < 4; ++k) {
      uint8_t sc0, mn0, sc1, mn1;
      unpack_k4(scales, 2 * k, &sc0, &mn0);
      unpack_k4(scales, 2 * k + 1, &sc1, &mn1);
      const auto d0 = hn::Set(df, d * static_cast<float>(sc0));
      const auto m0 = hn::Set(df, dmin * static_cast<float>(mn0));
      const auto d1 = hn::Set(df, d * static_cast<float>(sc1));
      const auto m1 = hn::Set(df, dmin * static_cast<float>(mn1));
      for (size_t l = 0; l < 32; l += N) {
        const auto bytes = hn::PromoteTo(di, hn::LoadU(du8, qs + 32 * k + l));
        const auto hbytes = hn::PromoteTo(di, hn::LoadU(du8, qh + l));
        // Elements 64k + l (bit 2k of qh) and 64k + 32 + l (bit 2k + 1).
        const auto h0 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(hbytes, 2 * k), k1));
        const auto h1 = hn::ShiftLeft<4>(hn::And(hn::ShiftRightSame(hbytes, 2 * k + 1), k1));
        const auto q0 = hn::Or(hn::And(bytes, k15), h0);
        const auto q1 = hn::Or(hn::ShiftRight<4>(bytes), h1);
        hn::StoreU(hn::Sub(hn::Mul(d0, hn::ConvertTo(df, q0)), m0), df, y + 64 * k + l);
        hn::StoreU(hn::Sub(hn::Mul(d1, hn::ConvertTo(df, q1)), m1), df, y + 64 * k + 32 + l);
      }
    }
  }
}

// Q6_K: element 128h + 32g + l: low 4 bits in ql[64h + l + 32(g & 1)] (nibble g >> 1), high 2 bits
// in qh[32h + l] (bits 2g); y = (d·scale)·(q − 32) per 16-element group.
void DequantizeQ6_K(const std::byte* src, float* dst, size_t n) {
  const D16 df;
  const hn::RebindToSigned<D16> di;
  const hn::Rebind<uint8_t, D16> du8;
  const size_t N = hn::Lanes(df);
  const auto k15 = hn::Set(di, 15);
  const auto k3 = hn::Set(di, 3);
  const auto k32 = hn::Set(di, 32);
  for (size_t b = 0; b < n / 256; ++b) {
    const std::byte* in = src + b * 210;
    float* y = dst + b * 256;
    const float d = load_f16(in + 208);
    const auto* ql = reinterpret_cast<const uint8_t*>(in);
    const auto* qh = reinterpret_cast<const uint8_t*>(in + 128);
    for (size_t h = 0; h < 2; ++h) {
      for (size_t l = 0; l < 32; l += N) {
        const auto a = hn::PromoteTo(di, hn::LoadU(du8, ql + 64 * h + l));
        const auto c = hn::PromoteTo(di, hn::LoadU(du8, ql + 64 * h + 32 + l));
        const auto hb = hn::PromoteTo(di, hn::LoadU(du8, qh + 32 * h + l));
        const decltype(a) low[4] = {hn::And(a, k15), hn::And(c, k15), hn::ShiftRight<4>(a),
                                    hn::ShiftRight<4>(c)};
        for (int g = 0; g < 4; ++g) {
          const size_t e = 128 * h + 32 * g + l;
          const auto hi2 = hn::And(hn::ShiftRightSame(hb, 2 * g), k3);
          const auto q = hn::Sub(hn::Or(low[g], hn::ShiftLeft<4>(hi2)), k32);
          const float scale = static_cast<float>(static_cast<int8_t>(u8(in + 192 + e / 16)));
          hn::StoreU(hn::Mul(hn::Set(df, d * scale), hn::ConvertTo(df, q)), df, y + e);
        }
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
HWY_EXPORT(DequantizeQ4_0);
HWY_EXPORT(DequantizeQ4_1);
HWY_EXPORT(DequantizeQ5_0);
HWY_EXPORT(DequantizeQ5_1);
HWY_EXPORT(DequantizeQ2_K);
HWY_EXPORT(DequantizeQ3_K);
HWY_EXPORT(DequantizeQ5_K);
HWY_EXPORT(DequantizeQ6_K);

void dequantize_q8_0_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ8_0)(src, dst, n);
}
void dequantize_q4_k_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_K)(src, dst, n);
}
void dequantize_q4_0_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_0)(src, dst, n);
}
void dequantize_q4_1_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ4_1)(src, dst, n);
}
void dequantize_q5_0_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_0)(src, dst, n);
}
void dequantize_q5_1_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_1)(src, dst, n);
}
void dequantize_q2_k_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ2_K)(src, dst, n);
}
void dequantize_q3_k_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ3_K)(src, dst, n);
}
void dequantize_q5_k_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ5_K)(src, dst, n);
}
void dequantize_q6_k_simd(const std::byte* src, float* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(DequantizeQ6_K)(src, dst, n);
}

}  // namespace lorakit::codec::detail
#endif  // HWY_ONCE
