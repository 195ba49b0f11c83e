// Highway quantizers for the ggml block types, bit-identical to the scalar kernels
// (quant_legacy.cpp, quant_k.cpp, k_search.cpp) on every finite input.
//
// Legacy types (32-element blocks): the elements of one block sit in the lanes. Their only
// reductions are max/min, which are exact in any order; the few order-dependent details (the first
// element of largest magnitude, the sign of a zero extreme) are resolved explicitly.
//
// K-quants: the scale searches are long chains of sequential sums whose rounding decides the codes,
// so they cannot be split inside a group. Instead each lane runs one whole group (16 or 32
// elements, 8 or 16 groups per super-block): the groups are transposed so that row i holds element
// i of N groups, and every lane then performs exactly the scalar search's operations in the
// scalar's order. Branches of the scalar code become per-lane selections; a lane's state is only
// replaced where the scalar code would have replaced it. The per-super-block steps that follow
// (scale headers, packing) are the scalar code itself (quant_k.hpp); the requantization with the
// stored scales is element-wise and runs with elements in lanes.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "codec/simd_quant.cpp"
#include <cfloat>
#include <cmath>
#include <cstring>

#include "codec/kernels.hpp"
#include "codec/quant_k.hpp"
#include "codec/rounding.hpp"
#include "codec/simd.hpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// After highway.h, so that it is re-included per target.
#include "codec/simd_half-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lorakit::codec::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using DI = hn::RebindToSigned<DF>;
using DU8 = hn::Rebind<uint8_t, DF>;
using VF = hn::Vec<DF>;
using VI = hn::Vec<DI>;
using MF = decltype(hn::FirstN(DF(), 0));

// The widest vector has 16 float lanes (AVX-512); the scratch buffers below are sized for it.
constexpr size_t kMaxLanes = 16;

// ------------------------------------------------------------------------------------------------
// Exact per-lane versions of the rounding helpers (rounding.hpp).

// clampi(rne(v), lo, hi) as a float, for integers lo ≤ 0 ≤ hi of small magnitude. Clamping first
// gives the same integer (rne is monotonic and fixes integers), and on the clamped value adding
// 1.5·2^23 rounds to the nearest integer with ties to even exactly as rne does; subtracting it
// again is exact. NaN must go to lo, as rne's saturation of NaN to −2^30 does: Max(v, lo) returns
// its second operand when v is NaN on every target compiled here (x86 maxps; the scalar target
// tests isnan).
HWY_INLINE VF RneClamp(DF d, VF v, VF lo, VF hi) {
  const VF magic = hn::Set(d, 12582912.0f);
  v = hn::Min(hn::Max(v, lo), hi);
  return hn::Sub(hn::Add(v, magic), magic);
}

// trunc_int: truncation toward zero, INT32_MIN out of range and for NaN. Out-of-range lanes are
// zeroed before the conversion so that no target's overflow handling is involved.
HWY_INLINE VI TruncInt(DF d, VF v) {
  const DI di;
  const MF in = hn::Lt(hn::Abs(v), hn::Set(d, 2147483648.0f));
  const VI t = hn::ConvertTo(di, hn::IfThenElseZero(in, v));
  return hn::IfThenElse(hn::RebindMask(di, in), t, hn::Set(di, INT32_MIN));
}

// roundaway: nearest integer, halves away from zero, from the exact fraction v − trunc(v).
HWY_INLINE VI RoundAway(DF d, VF v) {
  const DI di;
  const MF small = hn::Lt(hn::Abs(v), hn::Set(d, 8388608.0f));
  const VF vs = hn::IfThenElseZero(small, v);
  const VI t = hn::ConvertTo(di, vs);
  const VF frac = hn::Sub(vs, hn::ConvertTo(d, t));
  // A true mask is −1: subtracting it adds one.
  VI r = hn::Sub(t, hn::VecFromMask(di, hn::RebindMask(di, hn::Ge(frac, hn::Set(d, 0.5f)))));
  r = hn::Add(r, hn::VecFromMask(di, hn::RebindMask(di, hn::Le(frac, hn::Set(d, -0.5f)))));
  if (HWY_LIKELY(hn::AllTrue(d, small))) return r;
  const VI big = hn::IfThenElse(hn::RebindMask(di, hn::Ge(v, hn::Set(d, 2147483648.0f))),
                                hn::Set(di, INT32_MAX), TruncInt(d, v));
  return hn::IfThenElse(hn::RebindMask(di, small), r, big);
}

// Fast paths for lanes of magnitude below 2^22, where everything is exact in float: the integer
// result r then sits in the low bits of bits(r + 1.5·2^23) (two's complement, because that
// constant's low 22 bits are zero), so no float→int conversion is needed. Callers check the range
// and otherwise take the general functions above.
HWY_INLINE bool AllBelow2p22(DF d, VF v) {
  return hn::AllTrue(d, hn::Lt(hn::Abs(v), hn::Set(d, 4194304.0f)));
}
HWY_INLINE VI IntBits(DF d, VF integral) {
  const DI di;
  return hn::BitCast(di, hn::Add(integral, hn::Set(d, 12582912.0f)));
}
// roundaway: trunc(v) + trunc(2·frac). The fraction v − trunc(v) is exact and so is its double;
// truncating that gives ±1 exactly when |frac| ≥ 0.5.
HWY_INLINE VF RoundAwaySmall(VF v) {
  const VF t = hn::Trunc(v);
  const VF frac = hn::Sub(v, t);
  return hn::Add(t, hn::Trunc(hn::Add(frac, frac)));
}

// The bits of a mask, lane i in bit i.
HWY_INLINE uint64_t MaskBits(DF d, MF m) {
  uint8_t bytes[8] = {};
  hn::StoreMaskBits(d, m, bytes);
  uint64_t v;
  std::memcpy(&v, bytes, sizeof v);
  return v;
}

// Small non-negative integers (in int32 lanes) as bytes.
HWY_INLINE void StoreBytes(VI v, uint8_t* p) {
  const DU8 du8;
  hn::StoreU(hn::DemoteTo(du8, v), du8, p);
}

// ------------------------------------------------------------------------------------------------
// Non-finite scan for the dispatcher: whole vectors first, the exact index by the scalar loop.

size_t FirstNonfinite(const float* x, size_t n) {
  const hn::ScalableTag<uint32_t> du;
  const size_t N = hn::Lanes(du);
  const auto* u = reinterpret_cast<const uint32_t*>(x);
  const auto exp = hn::Set(du, 0x7F800000u);
  size_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    const auto m0 = hn::Eq(hn::And(hn::LoadU(du, u + i), exp), exp);
    const auto m1 = hn::Eq(hn::And(hn::LoadU(du, u + i + N), exp), exp);
    const auto m2 = hn::Eq(hn::And(hn::LoadU(du, u + i + 2 * N), exp), exp);
    const auto m3 = hn::Eq(hn::And(hn::LoadU(du, u + i + 3 * N), exp), exp);
    if (!hn::AllFalse(du, hn::Or(hn::Or(m0, m1), hn::Or(m2, m3)))) break;
  }
  for (; i < n; ++i) {
    if (!std::isfinite(x[i])) return i;
  }
  return n;
}

// ------------------------------------------------------------------------------------------------
// Legacy 32-element blocks. N ≤ 16 lanes divides 32, so a block is 32 / N whole vectors.

// Largest magnitude of a block. Magnitudes are ≥ +0 and not NaN, so the maximum does not depend on
// the order.
HWY_INLINE float AbsMax(DF d, const float* x) {
  const size_t N = hn::Lanes(d);
  VF vmax = hn::Abs(hn::LoadU(d, x));
  for (size_t j = N; j < 32; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, x + j)));
  return hn::GetLane(hn::MaxOfLanes(d, vmax));
}

// The reciprocal the quantizers multiply by: 1/d, or 0 for a zero scale.
HWY_INLINE VF ReciprocalOrZero(DF d, VF dd) {
  return hn::IfThenElseZero(hn::Ne(dd, hn::Zero(d)), hn::Div(hn::Set(d, 1.0f), dd));
}

// The legacy quantizers take blocks N at a time (N = lanes) in two phases. Phase 1 reduces each
// block to its extremes and then computes the per-block scalars (scale, reciprocal, fp16 fields)
// with one block per lane; phase 2 writes each block's codes with its elements in lanes. Done block
// by block, the chain reduction → two divisions → fp16 rounding → codes serialises consecutive
// blocks; split, both phases are throughput-bound.

void QuantizeQ8_0(const float* src, std::byte* dst, size_t n) {
  const DF d;
  const DI di;
  const size_t N = hn::Lanes(d);
  const VI k255 = hn::Set(di, 255);
  HWY_ALIGN float amax[kMaxLanes], id[kMaxLanes];
  HWY_ALIGN int32_t dh[kMaxLanes];
  const size_t nb = n / 32;
  for (size_t b0 = 0; b0 < nb; b0 += N) {
    const size_t count = std::min(N, nb - b0);
    for (size_t k = 0; k < N; ++k) amax[k] = k < count ? AbsMax(d, src + (b0 + k) * 32) : 0.0f;
    const VF dd = hn::Div(hn::Load(d, amax), hn::Set(d, 127.0f));
    hn::Store(ReciprocalOrZero(d, dd), d, id);
    hn::Store(F32ToF16Bits(d, dd), di, dh);
    for (size_t k = 0; k < count; ++k) {
      const float* x = src + (b0 + k) * 32;
      std::byte* out = dst + (b0 + k) * 34;
      store_u16(out, static_cast<uint16_t>(dh[k]));
      const VF vid = hn::Set(d, id[k]);
      auto* q = reinterpret_cast<uint8_t*>(out + 2);
      for (size_t j = 0; j < 32; j += N) {
        // The int8 cast keeps the low byte (two's complement).
        const VF v = hn::Mul(hn::LoadU(d, x + j), vid);
        const VI r =
            HWY_LIKELY(AllBelow2p22(d, v)) ? IntBits(d, RoundAwaySmall(v)) : RoundAway(d, v);
        StoreBytes(hn::And(r, k255), q + j);
      }
    }
  }
}

// The element of largest magnitude with its sign, the first one on ties, +0 for an all-zero block
// (as signed_absmax in quant_legacy.cpp).
HWY_INLINE float SignedAbsmax(DF d, const float* x) {
  const size_t N = hn::Lanes(d);
  VF vmax = hn::Abs(hn::LoadU(d, x));
  for (size_t j = N; j < 32; j += N) vmax = hn::Max(vmax, hn::Abs(hn::LoadU(d, x + j)));
  const VF amax = hn::MaxOfLanes(d, vmax);
  if (hn::GetLane(amax) == 0.0f) return 0.0f;
  for (size_t j = 0;; j += N) {
    const intptr_t k = hn::FindFirstTrue(d, hn::Eq(hn::Abs(hn::LoadU(d, x + j)), amax));
    if (k >= 0) return x[j + static_cast<size_t>(k)];
  }
}

// Minimum and maximum as min_max in quant_legacy.cpp. The values do not depend on the order, except
// the sign of a zero extreme (the first zero wins there): such blocks take the scalar loop.
HWY_INLINE void MinMax(DF d, const float* x, float* lo, float* hi) {
  const size_t N = hn::Lanes(d);
  VF vmin = hn::LoadU(d, x), vmax = vmin;
  for (size_t j = N; j < 32; j += N) {
    const VF v = hn::LoadU(d, x + j);
    vmin = hn::Min(vmin, v);
    vmax = hn::Max(vmax, v);
  }
  float mn = hn::GetLane(hn::MinOfLanes(d, vmin)), mx = hn::GetLane(hn::MaxOfLanes(d, vmax));
  if (HWY_UNLIKELY(mn == 0.0f || mx == 0.0f)) {
    mn = FLT_MAX;
    mx = -FLT_MAX;
    for (size_t j = 0; j < 32; ++j) {
      if (x[j] < mn) mn = x[j];
      if (x[j] > mx) mx = x[j];
    }
  }
  *lo = mn;
  *hi = mx;
}

// 4-bit codes: element j in the low nibble of byte j, element j + 16 in the high nibble. q holds
// the 32 / N vectors of a block.
HWY_INLINE void PackNibbles(DF d, const VI* q, uint8_t* qs) {
  const DI di;
  const size_t N = hn::Lanes(d);
  const size_t half = 16 / N > 0 ? 16 / N : 1;
  const VI k15 = hn::Set(di, 15);
  if (N > 16) return;  // not reached: x86 has at most 16 float lanes
  for (size_t k = 0; k < half; ++k) {
    StoreBytes(hn::Or(hn::And(q[k], k15), hn::ShiftLeft<4>(hn::And(q[k + half], k15))), qs + k * N);
  }
}

// Bit 4 of each of the 32 codes, element j in bit j.
HWY_INLINE uint32_t HighBits(DF d, const VI* q) {
  const DI di;
  const size_t N = hn::Lanes(d);
  const VI k16 = hn::Set(di, 16);
  uint64_t h = 0;
  for (size_t k = 0; k < 32 / N; ++k) {
    h |= MaskBits(d, hn::RebindMask(d, hn::Ne(hn::And(q[k], k16), hn::Zero(di)))) << (k * N);
  }
  return static_cast<uint32_t>(h);
}

// Q4_0/Q5_0: d = m / −2^(bits−1), q = min(max code, trunc(x·id + bias)).
template <int kMax>
void QuantizeSym(const float* src, std::byte* dst, size_t n) {
  const DF d;
  const DI di;
  const size_t N = hn::Lanes(d);
  constexpr size_t kBytes = kMax == 15 ? 18 : 22;
  const VF bias = hn::Set(d, kMax == 15 ? 8.5f : 16.5f);
  const VI vmax = hn::Set(di, kMax);
  const VF vmaxf = hn::Set(d, static_cast<float>(kMax));
  HWY_ALIGN float m[kMaxLanes], id[kMaxLanes];
  HWY_ALIGN int32_t dh[kMaxLanes];
  const size_t nb = n / 32;
  for (size_t b0 = 0; b0 < nb; b0 += N) {
    const size_t count = std::min(N, nb - b0);
    for (size_t k = 0; k < N; ++k) m[k] = k < count ? SignedAbsmax(d, src + (b0 + k) * 32) : 0.0f;
    const VF dd = hn::Div(hn::Load(d, m), hn::Set(d, kMax == 15 ? -8.0f : -16.0f));
    hn::Store(ReciprocalOrZero(d, dd), d, id);
    hn::Store(F32ToF16Bits(d, dd), di, dh);
    for (size_t k = 0; k < count; ++k) {
      const float* x = src + (b0 + k) * 32;
      std::byte* out = dst + (b0 + k) * kBytes;
      const VF vid = hn::Set(d, id[k]);
      VI q[32];
      for (size_t v = 0; v < 32 / N; ++v) {
        const VF t = hn::Add(hn::Mul(hn::LoadU(d, x + v * N), vid), bias);
        // Only the low 5 bits of the codes are stored, so the fast path may leave garbage above.
        q[v] = HWY_LIKELY(AllBelow2p22(d, t)) ? IntBits(d, hn::Min(hn::Trunc(t), vmaxf))
                                              : hn::Min(TruncInt(d, t), vmax);
      }
      store_u16(out, static_cast<uint16_t>(dh[k]));
      if constexpr (kMax == 15) {
        PackNibbles(d, q, reinterpret_cast<uint8_t*>(out + 2));
      } else {
        store_u32(out + 2, HighBits(d, q));
        PackNibbles(d, q, reinterpret_cast<uint8_t*>(out + 6));
      }
    }
  }
}

// Q4_1/Q5_1: d = (hi − lo) / max code, q = trunc((x − lo)·id + 0.5) (clamped for Q4_1 only).
template <int kMax>
void QuantizeAffine(const float* src, std::byte* dst, size_t n) {
  const DF d;
  const DI di;
  const size_t N = hn::Lanes(d);
  constexpr size_t kBytes = kMax == 15 ? 20 : 24;
  const VF half = hn::Set(d, 0.5f);
  const VI vmax = hn::Set(di, 15);
  const VF vmaxf = hn::Set(d, 15.0f);
  HWY_ALIGN float lo[kMaxLanes], hi[kMaxLanes], id[kMaxLanes];
  HWY_ALIGN int32_t dh[kMaxLanes], mh[kMaxLanes];
  const size_t nb = n / 32;
  for (size_t b0 = 0; b0 < nb; b0 += N) {
    const size_t count = std::min(N, nb - b0);
    for (size_t k = 0; k < N; ++k) {
      lo[k] = hi[k] = 0.0f;
      if (k < count) MinMax(d, src + (b0 + k) * 32, &lo[k], &hi[k]);
    }
    const VF vlo = hn::Load(d, lo);
    const VF dd = hn::Div(hn::Sub(hn::Load(d, hi), vlo), hn::Set(d, static_cast<float>(kMax)));
    hn::Store(ReciprocalOrZero(d, dd), d, id);
    hn::Store(F32ToF16Bits(d, dd), di, dh);
    hn::Store(F32ToF16Bits(d, vlo), di, mh);
    for (size_t k = 0; k < count; ++k) {
      const float* x = src + (b0 + k) * 32;
      std::byte* out = dst + (b0 + k) * kBytes;
      const VF vid = hn::Set(d, id[k]), vmin = hn::Set(d, lo[k]);
      VI q[32];
      for (size_t v = 0; v < 32 / N; ++v) {
        const VF t = hn::Add(hn::Mul(hn::Sub(hn::LoadU(d, x + v * N), vmin), vid), half);
        if (HWY_LIKELY(AllBelow2p22(d, t))) {
          q[v] = IntBits(d, kMax == 15 ? hn::Min(hn::Trunc(t), vmaxf) : hn::Trunc(t));
        } else {
          q[v] = TruncInt(d, t);
          if constexpr (kMax == 15) q[v] = hn::Min(q[v], vmax);
        }
      }
      store_u16(out, static_cast<uint16_t>(dh[k]));
      store_u16(out + 2, static_cast<uint16_t>(mh[k]));
      if constexpr (kMax == 15) {
        PackNibbles(d, q, reinterpret_cast<uint8_t*>(out + 4));
      } else {
        store_u32(out + 4, HighBits(d, q));
        PackNibbles(d, q, reinterpret_cast<uint8_t*>(out + 8));
      }
    }
  }
}

void QuantizeQ4_0(const float* src, std::byte* dst, size_t n) { QuantizeSym<15>(src, dst, n); }
void QuantizeQ5_0(const float* src, std::byte* dst, size_t n) { QuantizeSym<31>(src, dst, n); }
void QuantizeQ4_1(const float* src, std::byte* dst, size_t n) { QuantizeAffine<15>(src, dst, n); }
void QuantizeQ5_1(const float* src, std::byte* dst, size_t n) { QuantizeAffine<31>(src, dst, n); }

// ------------------------------------------------------------------------------------------------
// K-quant searches, one group per lane. Group data is in "lane layout": row i (N floats) holds
// element i of the N groups.

// Groups 0..count−1 of kGS floats (group q at x + q·kGS) into lane layout, batch after batch: group
// q is lane q % N of batch q / N, element i at xt[(q / N)·kGS·N + i·N + q % N]. Groups
// count..total−1 are zero (padding of the last chunk).
template <size_t kGS>
void ToLanes(const float* x, size_t count, size_t total, size_t N, float* xt) {
  for (size_t q = 0; q < total; ++q) {
    float* col = xt + (q / N) * kGS * N + q % N;
    if (q < count) {
      const float* g = x + q * kGS;
      for (size_t i = 0; i < kGS; ++i) col[i * N] = g[i];
    } else {
      for (size_t i = 0; i < kGS; ++i) col[i * N] = 0.0f;
    }
  }
}

// affine_search (k_search.cpp) lane by lane over kN-element groups, weights wt and values xt in
// lane layout; writes the codes (as floats) in lane layout to Lt and the scale and min of each
// lane. kB independent batches of N lanes run interleaved (batch b at xt + b·kN·N, likewise wt and
// Lt; its scales at scale + b·N): each batch performs exactly the operations it would alone, and
// the interleaving only lets the core overlap one batch's long dependency chains (the next
// candidate's codes wait on the division by the updated range; the error is one sequential sum)
// with the other batch's work.
template <int kN, bool kMad, int kB>
void AffineSearchLanes(const float* xt, const float* wt, float lmax, float rmin, float rstep,
                       int nsteps, float* Lt, float* scale, float* minv) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t S = kN * N;  // batch stride
  const VF zero = hn::Zero(d);
  const VF vlmax = hn::Set(d, lmax);
  auto err_term = [](VF w, VF e) { return hn::Mul(w, kMad ? hn::Abs(e) : hn::Mul(e, e)); };
  // 1–2. Range (lo clipped to ≤ 0) and the weighted sums that do not depend on L.
  VF lo[kB], hi[kB], sw[kB], sx[kB];
  for (int b = 0; b < kB; ++b) {
    lo[b] = hi[b] = hn::Load(d, xt + b * S);
    sw[b] = hn::Load(d, wt + b * S);
    sx[b] = hn::Mul(sw[b], lo[b]);
  }
  for (int i = 1; i < kN; ++i) {
    for (int b = 0; b < kB; ++b) {
      const VF x = hn::Load(d, xt + b * S + i * N), w = hn::Load(d, wt + b * S + i * N);
      lo[b] = hn::IfThenElse(hn::Lt(x, lo[b]), x, lo[b]);
      hi[b] = hn::IfThenElse(hn::Gt(x, hi[b]), x, hi[b]);
      sw[b] = hn::Add(sw[b], w);
      sx[b] = hn::Add(sx[b], hn::Mul(w, x));
    }
  }
  // 3. Constant lanes run along (their arithmetic is meaningless) and are overwritten at the end.
  // The codes of the best fit so far are not kept but recomputed at the end from the (is, lo) they
  // were made with: the same operations on the same values give the same codes.
  MF constant[kB];
  VF lo_clipped[kB], is[kB], sc[kB], best[kB], is_best[kB], lo_best[kB];
  for (int b = 0; b < kB; ++b) {
    lo[b] = hn::IfThenElse(hn::Gt(lo[b], zero), zero, lo[b]);
    constant[b] = hn::Eq(hi[b], lo[b]);
    lo_clipped[b] = lo[b];
    // 4. The plain min/max fit and its error.
    is[b] = hn::Div(vlmax, hn::Sub(hi[b], lo[b]));
    sc[b] = hn::Div(hn::Set(d, 1.0f), is[b]);
    best[b] = zero;
    is_best[b] = is[b];
    lo_best[b] = lo[b];
  }
  for (int i = 0; i < kN; ++i) {
    for (int b = 0; b < kB; ++b) {
      const VF x = hn::Load(d, xt + b * S + i * N);
      const VF fl = RneClamp(d, hn::Mul(is[b], hn::Sub(x, lo[b])), zero, vlmax);
      const VF e = hn::Sub(hn::Add(hn::Mul(sc[b], fl), lo[b]), x);
      best[b] = hn::Add(best[b], err_term(hn::Load(d, wt + b * S + i * N), e));
    }
  }
  // 5. Candidate scales: codes from a stretched range, then the weighted least-squares (scale, min)
  // for those codes; lo is the running best min.
  HWY_ALIGN float Lc[kB * kN * kMaxLanes];
  for (int t = 0; t <= nsteps; ++t) {
    const VF num = hn::Set(d, (rmin + rstep * static_cast<float>(t)) + lmax);
    VF sl[kB], sl2[kB], sxl[kB];
    for (int b = 0; b < kB; ++b) {
      is[b] = hn::Div(num, hn::Sub(hi[b], lo[b]));
      sl[b] = sl2[b] = sxl[b] = zero;
    }
    for (int i = 0; i < kN; ++i) {
      for (int b = 0; b < kB; ++b) {
        const VF x = hn::Load(d, xt + b * S + i * N), w = hn::Load(d, wt + b * S + i * N);
        const VF fl = RneClamp(d, hn::Mul(is[b], hn::Sub(x, lo[b])), zero, vlmax);
        hn::Store(fl, d, Lc + b * S + i * N);
        const VF wl = hn::Mul(w, fl);
        sl[b] = hn::Add(sl[b], wl);
        sl2[b] = hn::Add(sl2[b], hn::Mul(wl, fl));
        sxl[b] = hn::Add(sxl[b], hn::Mul(wl, x));
      }
    }
    MF ok[kB];
    VF sc_c[kB], m_c[kB];
    bool any = false;
    for (int b = 0; b < kB; ++b) {
      const VF det = hn::Sub(hn::Mul(sw[b], sl2[b]), hn::Mul(sl[b], sl[b]));
      ok[b] = hn::Gt(det, zero);
      any = any || !hn::AllFalse(d, ok[b]);
      sc_c[b] = hn::Div(hn::Sub(hn::Mul(sw[b], sxl[b]), hn::Mul(sx[b], sl[b])), det);
      m_c[b] = hn::Div(hn::Sub(hn::Mul(sl2[b], sx[b]), hn::Mul(sl[b], sxl[b])), det);
      const MF refit = hn::Gt(m_c[b], zero);  // the min must stay ≤ 0: refit the scale alone
      sc_c[b] = hn::IfThenElse(refit, hn::Div(sxl[b], sl2[b]), sc_c[b]);
      m_c[b] = hn::IfThenElse(refit, zero, m_c[b]);
    }
    if (!any) continue;
    VF err[kB];
    for (int b = 0; b < kB; ++b) err[b] = zero;
    for (int i = 0; i < kN; ++i) {
      for (int b = 0; b < kB; ++b) {
        const VF x = hn::Load(d, xt + b * S + i * N);
        const VF e = hn::Sub(hn::Add(hn::Mul(sc_c[b], hn::Load(d, Lc + b * S + i * N)), m_c[b]), x);
        err[b] = hn::Add(err[b], err_term(hn::Load(d, wt + b * S + i * N), e));
      }
    }
    for (int b = 0; b < kB; ++b) {
      const MF better = hn::And(ok[b], hn::Lt(err[b], best[b]));
      is_best[b] = hn::IfThenElse(better, is[b], is_best[b]);
      lo_best[b] = hn::IfThenElse(better, lo[b], lo_best[b]);
      best[b] = hn::IfThenElse(better, err[b], best[b]);
      sc[b] = hn::IfThenElse(better, sc_c[b], sc[b]);
      lo[b] = hn::IfThenElse(better, m_c[b], lo[b]);
    }
  }
  for (int b = 0; b < kB; ++b) {
    for (int i = 0; i < kN; ++i) {
      const VF x = hn::Load(d, xt + b * S + i * N);
      const VF fl = RneClamp(d, hn::Mul(is_best[b], hn::Sub(x, lo_best[b])), zero, vlmax);
      hn::Store(hn::IfThenZeroElse(constant[b], fl), d, Lt + b * S + i * N);
    }
    hn::StoreU(hn::IfThenZeroElse(constant[b], sc[b]), d, scale + b * N);
    hn::StoreU(hn::Neg(hn::IfThenElse(constant[b], lo_clipped[b], lo[b])), d, minv + b * N);
  }
}

// The value of largest magnitude of each 16-element lane, sign kept, first on ties; and whether
// the lane counts as all zero.
HWY_INLINE VF SignedAbsmaxLanes(DF d, const float* xt, MF* negligible) {
  const size_t N = hn::Lanes(d);
  VF amax = hn::Zero(d), m = hn::Zero(d);
  for (int i = 0; i < 16; ++i) {
    const VF x = hn::Load(d, xt + i * N);
    const VF a = hn::Abs(x);
    const MF gt = hn::Gt(a, amax);
    amax = hn::IfThenElse(gt, a, amax);
    m = hn::IfThenElse(gt, x, m);
  }
  *negligible = hn::Lt(amax, hn::Set(d, kGroupMaxEps));
  return m;
}

// sym3_search lane by lane, kB batches interleaved as in AffineSearchLanes (the coordinate descent
// is one dependency chain through a division per element). Codes (+4, 0 for a zero lane) as floats
// in lane layout.
template <int kB>
void Sym3Lanes(const float* xt, float* Lt, float* scale) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const size_t S = 16 * N;
  const VF zero = hn::Zero(d);
  const VF lo = hn::Set(d, -4.0f), hi = hn::Set(d, 3.0f);
  // 2. Codes from the extreme value, with weights x² (w·x hoisted: the same product each time).
  HWY_ALIGN float w[kB * 16 * kMaxLanes], wx[kB * 16 * kMaxLanes];
  MF negligible[kB];
  VF sxl[kB], sll[kB];
  for (int b = 0; b < kB; ++b) {
    const VF is = hn::Div(hn::Set(d, -4.0f), SignedAbsmaxLanes(d, xt + b * S, &negligible[b]));
    sxl[b] = sll[b] = zero;
    for (int i = 0; i < 16; ++i) {
      const size_t r = b * S + i * N;
      const VF x = hn::Load(d, xt + r);
      const VF wi = hn::Mul(x, x), wxi = hn::Mul(wi, x);
      hn::Store(wi, d, w + r);
      hn::Store(wxi, d, wx + r);
      const VF fl = RneClamp(d, hn::Mul(is, x), lo, hi);
      hn::Store(fl, d, Lt + r);
      sxl[b] = hn::Add(sxl[b], hn::Mul(wxi, fl));
      sll[b] = hn::Add(sll[b], hn::Mul(hn::Mul(wi, fl), fl));
    }
  }
  // 3. Coordinate descent. A lane whose pass changed nothing would change nothing in the next
  // passes either (its state is the same), so running on until no lane changes is the scalar
  // early exit, lane by lane.
  for (int pass = 0; pass < 5; ++pass) {
    MF changed[kB];
    for (int b = 0; b < kB; ++b) changed[b] = hn::FirstN(d, 0);
    for (int i = 0; i < 16; ++i) {
      for (int b = 0; b < kB; ++b) {
        const size_t r = b * S + i * N;
        const VF x = hn::Load(d, xt + r);
        const VF wi = hn::Load(d, w + r), wxi = hn::Load(d, wx + r);
        const VF fl = hn::Load(d, Lt + r);
        VF a = hn::Sub(sxl[b], hn::Mul(wxi, fl));
        VF bb = hn::Sub(sll[b], hn::Mul(hn::Mul(wi, fl), fl));
        const MF apos = hn::Gt(a, zero);
        const VF lp = RneClamp(d, hn::Div(hn::Mul(x, bb), a), lo, hi);
        a = hn::Add(a, hn::Mul(wxi, lp));
        bb = hn::Add(bb, hn::Mul(hn::Mul(wi, lp), lp));
        const MF take = hn::And(
            hn::And(apos, hn::Ne(lp, fl)),
            hn::And(hn::Gt(bb, zero),
                    hn::Gt(hn::Mul(hn::Mul(a, a), sll[b]), hn::Mul(hn::Mul(sxl[b], sxl[b]), bb))));
        hn::Store(hn::IfThenElse(take, lp, fl), d, Lt + r);
        sxl[b] = hn::IfThenElse(take, a, sxl[b]);
        sll[b] = hn::IfThenElse(take, bb, sll[b]);
        changed[b] = hn::Or(changed[b], take);
      }
    }
    bool any = false;
    for (int b = 0; b < kB; ++b) any = any || !hn::AllFalse(d, changed[b]);
    if (!any) break;
  }
  const VF four = hn::Set(d, 4.0f);
  for (int b = 0; b < kB; ++b) {
    for (int i = 0; i < 16; ++i) {
      float* row = Lt + b * S + i * N;
      hn::Store(hn::IfThenZeroElse(negligible[b], hn::Add(hn::Load(d, row), four)), d, row);
    }
    const VF sc = hn::IfThenElseZero(hn::Gt(sll[b], zero), hn::Div(sxl[b], sll[b]));
    hn::StoreU(hn::IfThenZeroElse(negligible[b], sc), d, scale + b * N);
  }
}

// sym6_search lane by lane. Codes (+32, 0 for a zero lane) as floats in lane layout.
void Sym6Lanes(const float* xt, float* Lt, float* scale) {
  const DF d;
  const size_t N = hn::Lanes(d);
  const VF zero = hn::Zero(d);
  const VF lo = hn::Set(d, -32.0f), hi = hn::Set(d, 31.0f);
  MF negligible;
  const VF m = SignedAbsmaxLanes(d, xt, &negligible);
  HWY_ALIGN float w[16 * kMaxLanes], wx[16 * kMaxLanes];
  for (int i = 0; i < 16; ++i) {
    const VF x = hn::Load(d, xt + i * N);
    const VF wi = hn::Mul(x, x);
    hn::Store(wi, d, w + i * N);
    hn::Store(hn::Mul(wi, x), d, wx + i * N);
  }
  // The sums Sxl, Sll (weights x²) that score the codes for scale −nmax/m. The codes themselves
  // are recomputed at the end from the best candidate's `is` (the same operations give the same
  // codes) rather than kept for every candidate.
  auto fit = [&](VF is, VF* sxl, VF* sll) {
    VF a = zero, b = zero;
    for (int i = 0; i < 16; ++i) {
      const VF fl = RneClamp(d, hn::Mul(is, hn::Load(d, xt + i * N)), lo, hi);
      a = hn::Add(a, hn::Mul(hn::Load(d, wx + i * N), fl));
      b = hn::Add(b, hn::Mul(hn::Mul(hn::Load(d, w + i * N), fl), fl));
    }
    *sxl = a;
    *sll = b;
  };
  VF sxl, sll;
  VF is_best = hn::Div(hn::Set(d, -32.0f), m);
  fit(is_best, &sxl, &sll);
  VF sc = hn::IfThenElseZero(hn::Ne(sll, zero), hn::Div(sxl, sll));
  VF best = hn::Mul(sc, sxl);
  for (int t = -9; t <= 9; ++t) {
    if (t == 0) continue;
    const VF is = hn::Div(hn::Set(d, -(32.0f + 0.1f * static_cast<float>(t))), m);
    fit(is, &sxl, &sll);
    const MF better = hn::And(hn::Gt(sll, zero), hn::Gt(hn::Mul(sxl, sxl), hn::Mul(best, sll)));
    is_best = hn::IfThenElse(better, is, is_best);
    sc = hn::IfThenElse(better, hn::Div(sxl, sll), sc);
    best = hn::IfThenElse(better, hn::Mul(sc, sxl), best);
  }
  const VF k32 = hn::Set(d, 32.0f);
  for (int i = 0; i < 16; ++i) {
    const VF fl = RneClamp(d, hn::Mul(is_best, hn::Load(d, xt + i * N)), lo, hi);
    hn::Store(hn::IfThenZeroElse(negligible, hn::Add(fl, k32)), d, Lt + i * N);
  }
  hn::StoreU(hn::IfThenZeroElse(negligible, sc), d, scale);
}

// ------------------------------------------------------------------------------------------------
// K-quant drivers. A chunk is the fewest super-blocks whose groups fill the interleaved batches of
// the search; the searches run over the chunk, then each super-block is finished on its own.

enum class KType { kQ2, kQ3, kQ4, kQ5, kQ6 };

template <KType kT>
struct KTraits;
template <>
struct KTraits<KType::kQ2> {
  static constexpr size_t kGS = 16, kBytes = 84;
};
template <>
struct KTraits<KType::kQ3> {
  static constexpr size_t kGS = 16, kBytes = 110;
};
template <>
struct KTraits<KType::kQ4> {
  static constexpr size_t kGS = 32, kBytes = 144;
};
template <>
struct KTraits<KType::kQ5> {
  static constexpr size_t kGS = 32, kBytes = 176;
};
template <>
struct KTraits<KType::kQ6> {
  static constexpr size_t kGS = 16, kBytes = 210;
};

// How many batches each search interleaves. SYM3's coordinate descent is one dependency chain
// through a division per element, and a second batch fills its bubbles. The AFFINE and SYM6
// searches keep the floating-point units busy with one batch (interleaving measured no gain).
template <KType kT>
constexpr int kInterleave = kT == KType::kQ3 ? 2 : 1;

// Runs the group search of kB batches (N groups each, in lane layout at xt, batch after batch):
// scale (and min) per lane into s, m; codes into Lt.
template <KType kT, int kB>
HWY_INLINE void SearchBatches(const float* xt, float* Lt, float* s, float* m) {
  const DF d;
  const size_t N = hn::Lanes(d);
  HWY_ALIGN float wt[kB * 32 * kMaxLanes];
  if constexpr (kT == KType::kQ4 || kT == KType::kQ5) {
    // Weights r + |x| with r = sqrt(mean x²), the sum in element order.
    for (int b = 0; b < kB; ++b) {
      const float* xb = xt + b * 32 * N;
      VF sum = hn::Zero(d);
      for (int i = 0; i < 32; ++i) {
        const VF x = hn::Load(d, xb + i * N);
        sum = hn::Add(sum, hn::Mul(x, x));
      }
      const VF r = hn::Sqrt(hn::Div(sum, hn::Set(d, 32.0f)));  // correctly rounded, as sqrtf
      for (int i = 0; i < 32; ++i) {
        hn::Store(hn::Add(r, hn::Abs(hn::Load(d, xb + i * N))), d, wt + b * 32 * N + i * N);
      }
    }
    if constexpr (kT == KType::kQ4) {
      AffineSearchLanes<32, false, kB>(xt, wt, 15.0f, -1.0f, 0.1f, 20, Lt, s, m);
    } else {
      AffineSearchLanes<32, false, kB>(xt, wt, 31.0f, -0.5f, 0.1f, 15, Lt, s, m);
    }
  } else if constexpr (kT == KType::kQ2) {
    for (size_t i = 0; i < kB * 16; ++i) hn::Store(hn::Abs(hn::Load(d, xt + i * N)), d, wt + i * N);
    AffineSearchLanes<16, true, kB>(xt, wt, 3.0f, -0.5f, 0.1f, 15, Lt, s, m);
  } else if constexpr (kT == KType::kQ3) {
    Sym3Lanes<kB>(xt, Lt, s);
  } else {
    for (int b = 0; b < kB; ++b) Sym6Lanes(xt + b * 16 * N, Lt + b * 16 * N, s + b * N);
  }
}

// Requantizes the elements of one group with the stored scale: codes into L (bytes).
template <KType kT>
HWY_INLINE void RequantGroup(const float* x, float dl, float dm, uint8_t* L) {
  const DF d;
  const DI di;
  const size_t N = hn::Lanes(d);
  constexpr size_t kGS = KTraits<kT>::kGS;
  const VF vdl = hn::Set(d, dl), vdm = hn::Set(d, dm);
  for (size_t i = 0; i < kGS; i += N) {
    const VF v = hn::LoadU(d, x + i);
    VF c;
    if constexpr (kT == KType::kQ3) {
      c = hn::Add(RneClamp(d, hn::Div(v, vdl), hn::Set(d, -4.0f), hn::Set(d, 3.0f)),
                  hn::Set(d, 4.0f));
    } else if constexpr (kT == KType::kQ6) {
      c = hn::Add(RneClamp(d, hn::Div(v, vdl), hn::Set(d, -32.0f), hn::Set(d, 31.0f)),
                  hn::Set(d, 32.0f));
    } else {
      const float lmax = kT == KType::kQ2 ? 3.0f : kT == KType::kQ4 ? 15.0f : 31.0f;
      c = RneClamp(d, hn::Div(hn::Add(v, vdm), vdl), hn::Zero(d), hn::Set(d, lmax));
    }
    StoreBytes(hn::ConvertTo(di, c), L + i);
  }
}

template <KType kT>
void QuantizeK(const float* src, std::byte* dst, size_t n) {
  const DF d;
  const size_t N = hn::Lanes(d);
  constexpr size_t kGS = KTraits<kT>::kGS, kG = 256 / kGS, kBytes = KTraits<kT>::kBytes;
  constexpr int kB = kInterleave<kT>;
  // Super-blocks per chunk: enough groups for kB whole batches (at most 4 super-blocks: 2 × 16
  // lanes of 8-group types). The groups of a chunk are always a multiple of kB·N.
  const size_t chunk = std::max<size_t>(1, kB * N / kG);
  constexpr size_t kMaxChunk = 2 * kMaxLanes / 8;
  HWY_ALIGN float xt[kMaxChunk * 256], Lt[kMaxChunk * 256];
  float s[kMaxChunk * kG], m[kMaxChunk * kG];
  const size_t nsb = n / 256;
  for (size_t b0 = 0; b0 < nsb; b0 += chunk) {
    const size_t real = std::min(chunk, nsb - b0);
    const float* x = src + b0 * 256;
    // A short last chunk searches only the batches it needs, the odd one alone.
    const size_t batches = (real * kG + N - 1) / N;
    ToLanes<kGS>(x, real * kG, batches * N, N, xt);
    size_t bt = 0;
    for (; bt + kB <= batches; bt += kB) {
      SearchBatches<kT, kB>(xt + bt * kGS * N, Lt + bt * kGS * N, s + bt * N, m + bt * N);
    }
    for (; bt < batches; ++bt) {
      SearchBatches<kT, 1>(xt + bt * kGS * N, Lt + bt * kGS * N, s + bt * N, m + bt * N);
    }
    for (size_t k = 0; k < real; ++k) {
      const float* xs = x + k * 256;
      std::byte* out = dst + (b0 + k) * kBytes;
      float dl[kG], dm[kG] = {};
      if constexpr (kT == KType::kQ4 || kT == KType::kQ5) {
        k4_header(s + k * kG, m + k * kG, out, dl, dm);
      } else if constexpr (kT == KType::kQ2) {
        q2k_header(s + k * kG, m + k * kG, out, dl, dm);
      } else if constexpr (kT == KType::kQ3) {
        q3k_header(s + k * kG, out, dl);
      } else {
        if (!q6k_header(s + k * kG, out, dl)) continue;
      }
      uint8_t L[256];
      for (size_t j = 0; j < kG; ++j) {
        if (dl[j] == 0.0f) {  // keep the search's codes
          const size_t q = k * kG + j;
          const float* col = Lt + (q / N) * kGS * N + q % N;
          for (size_t i = 0; i < kGS; ++i) L[j * kGS + i] = static_cast<uint8_t>(col[i * N]);
          continue;
        }
        RequantGroup<kT>(xs + j * kGS, dl[j], dm[j], L + j * kGS);
      }
      if constexpr (kT == KType::kQ2) q2k_pack(L, out);
      if constexpr (kT == KType::kQ3) q3k_pack(L, out);
      if constexpr (kT == KType::kQ4) q4k_pack(L, out);
      if constexpr (kT == KType::kQ5) q5k_pack(L, out);
      if constexpr (kT == KType::kQ6) q6k_pack(L, out);
    }
  }
}

void QuantizeQ2_K(const float* src, std::byte* dst, size_t n) {
  QuantizeK<KType::kQ2>(src, dst, n);
}
void QuantizeQ3_K(const float* src, std::byte* dst, size_t n) {
  QuantizeK<KType::kQ3>(src, dst, n);
}
void QuantizeQ4_K(const float* src, std::byte* dst, size_t n) {
  QuantizeK<KType::kQ4>(src, dst, n);
}
void QuantizeQ5_K(const float* src, std::byte* dst, size_t n) {
  QuantizeK<KType::kQ5>(src, dst, n);
}
void QuantizeQ6_K(const float* src, std::byte* dst, size_t n) {
  QuantizeK<KType::kQ6>(src, dst, n);
}

}  // namespace lorakit::codec::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorakit::codec::detail {

HWY_EXPORT(FirstNonfinite);
HWY_EXPORT(QuantizeQ8_0);
HWY_EXPORT(QuantizeQ4_0);
HWY_EXPORT(QuantizeQ4_1);
HWY_EXPORT(QuantizeQ5_0);
HWY_EXPORT(QuantizeQ5_1);
HWY_EXPORT(QuantizeQ2_K);
HWY_EXPORT(QuantizeQ3_K);
HWY_EXPORT(QuantizeQ4_K);
HWY_EXPORT(QuantizeQ5_K);
HWY_EXPORT(QuantizeQ6_K);

size_t first_nonfinite_simd(const float* x, size_t n) {
  return HWY_DYNAMIC_DISPATCH(FirstNonfinite)(x, n);
}
void quantize_q8_0_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ8_0)(src, dst, n);
}
void quantize_q4_0_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ4_0)(src, dst, n);
}
void quantize_q4_1_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ4_1)(src, dst, n);
}
void quantize_q5_0_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ5_0)(src, dst, n);
}
void quantize_q5_1_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ5_1)(src, dst, n);
}
void quantize_q2_k_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ2_K)(src, dst, n);
}
void quantize_q3_k_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ3_K)(src, dst, n);
}
void quantize_q4_k_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ4_K)(src, dst, n);
}
void quantize_q5_k_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ5_K)(src, dst, n);
}
void quantize_q6_k_simd(const float* src, std::byte* dst, size_t n) {
  HWY_DYNAMIC_DISPATCH(QuantizeQ6_K)(src, dst, n);
}

}  // namespace lorakit::codec::detail
#endif  // HWY_ONCE
