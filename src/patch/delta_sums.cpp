// Highway kernels of delta_sums.hpp (the sums alone, and the fused finish of a float tile),
// compiled per SIMD target and chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "patch/delta_sums.cpp"
#include "patch/delta_sums.hpp"

#include <algorithm>
#include <cstdint>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>  // _mm_sfence after non-temporal stores
#endif

#include "codec/rounding.hpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// After highway.h, so that it is re-included per target.
#include "codec/simd_half-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lorakit::patch::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline bool finite(double v) { return v - v == 0.0; }  // false for NaN and ±inf

// Float vectors per run; a run's sums are checked for finiteness before they are kept.
constexpr size_t kRunVectors = 32;

// Adds one element in double: the definition, leaving out elements whose W_exact − W₀ or
// W_eff − W₀ is not finite.
HWY_INLINE void AddScalar(float base, float exact, float got, double& dd, double& proj, double& err,
                          bool& nonfinite) {
  nonfinite |= !finite(exact);
  const double d = static_cast<double>(exact) - base, r = static_cast<double>(got) - base;
  if (!finite(d) || !finite(r)) return;
  const double x = static_cast<double>(got) - exact;
  dd += d * d;
  proj += r * d;
  err += x * x;
}

// The double-lane sums of one run: Σd², Σx·d and Σx², with d = W_exact − W₀ and x = W_eff −
// W_exact; Σr·d (r = W_eff − W₀ = d + x) is Σd² + Σx·d, formed once per run in Keep.
struct RunLanes {
  using D = hn::ScalableTag<double>;
  hn::Vec<D> dd, xd, err;

  HWY_INLINE RunLanes() : dd(hn::Zero(D())), xd(hn::Zero(D())), err(hn::Zero(D())) {}

  // Adds `count` elements (a whole number of float vectors). d and x are formed in double from the
  // widened inputs, except that with kRoundedGot (W_eff is W_exact rounded to a float type, as in
  // the fused finish) x is taken in float, where it is then exact: a value minus its own rounding
  // to a coarser float type (a non-finite x fails the run's Keep). Each product is fused into its
  // sum (one rounding). `base` null: W₀ = 0.
  template <bool kRoundedGot>
  HWY_INLINE void Add(const float* base, const float* exact, const float* got, size_t count) {
    const D d64;
    const hn::Rebind<float, D> d32;
    for (size_t k = 0; k < count; k += hn::Lanes(d64)) {
      const auto e32 = hn::LoadU(d32, exact + k);
      const auto e = hn::PromoteTo(d64, e32);
      const auto x = kRoundedGot ? hn::PromoteTo(d64, hn::Sub(hn::LoadU(d32, got + k), e32))
                                 : hn::Sub(hn::PromoteTo(d64, hn::LoadU(d32, got + k)), e);
      const auto d = base ? hn::Sub(e, hn::PromoteTo(d64, hn::LoadU(d32, base + k))) : e;
      dd = hn::MulAdd(d, d, dd);
      xd = hn::MulAdd(x, d, xd);
      err = hn::MulAdd(x, x, err);
    }
  }

  // Adds the run to the totals and returns true, or returns false when a NaN or ±inf among its
  // inputs made the sums non-finite (finite floats cannot overflow in double): the caller then
  // redoes the run element by element with AddScalar. Ordinary weights never do.
  HWY_INLINE bool Keep(double& dd_total, double& proj_total, double& err_total) const {
    const D d64;
    const double a = hn::GetLane(hn::SumOfLanes(d64, dd)), b = hn::GetLane(hn::SumOfLanes(d64, xd)),
                 c = hn::GetLane(hn::SumOfLanes(d64, err));
    if (!finite(a) || !finite(b) || !finite(c)) return false;
    dd_total += a, proj_total += a + b, err_total += c;
    return true;
  }
};

void AccumulateDeltaSums(const float* w0, const float* w, const float* eff, size_t n,
                         DeltaSums* sums) {
  const size_t N = hn::Lanes(hn::ScalableTag<float>());
  size_t i = 0;
  double dd = 0, proj = 0, err = 0;
  bool nonfinite = false;
  const auto scalar = [&](size_t j) {
    AddScalar(w0 ? w0[j] : 0.0f, w[j], eff[j], dd, proj, err, nonfinite);
  };
  while (i + N <= n) {
    const size_t count = std::min(kRunVectors, (n - i) / N) * N;
    RunLanes run;
    run.Add<false>(w0 ? w0 + i : nullptr, w + i, eff + i, count);
    if (!run.Keep(dd, proj, err))
      for (size_t j = i; j < i + count; ++j) scalar(j);
    i += count;
  }
  for (; i < n; ++i) scalar(i);
  sums->dd += dd;
  sums->proj += proj;
  sums->err += err;
  sums->nonfinite |= nonfinite;
}

// The float types the fused finish reads and writes: 0 F32, 1 F16, 2 BF16. F16 uses F16C where the
// target has it (the scalar redo of a non-finite run restores the codec's NaN bits), else the
// codec's integer recipes.
template <int kType, class DF>
HWY_INLINE hn::Vec<DF> LoadAsF32(DF df, const std::byte* p, size_t i) {
  namespace cd = codec::detail::HWY_NAMESPACE;
  if constexpr (kType == 0) {
    return hn::LoadU(df, reinterpret_cast<const float*>(p) + i);
  } else if constexpr (kType == 1 && codec::detail::HWY_NAMESPACE::kNativeF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(p) + i));
  } else {
    const hn::RebindToSigned<DF> di;
    const hn::Rebind<uint16_t, DF> du16;
    const auto h = hn::PromoteTo(di, hn::LoadU(du16, reinterpret_cast<const uint16_t*>(p) + i));
    if constexpr (kType == 1) return cd::F16BitsToF32(df, h);
    return cd::BF16BitsToF32(df, h);
  }
}

// Whether the 16-bit stores of a float vector can be non-temporal: whole vectors of at least 16
// bytes on x86 (the partial vectors of narrower targets would store more than their lanes).
template <class DF>
constexpr bool CanStream16() {
#if defined(__x86_64__) || defined(__i386__)
  return hn::MaxLanes(DF()) * 2 >= 16;
#else
  return false;
#endif
}

// Stores v rounded to the type and returns the stored value as float. kStream: the 16-bit result
// goes to memory with a non-temporal store (the output is not read again soon; skipping the read
// for ownership saves a DRAM pass), `p + 2·i` aligned to the vector.
template <int kType, bool kStream = false, class DF>
HWY_INLINE hn::Vec<DF> StoreRounded(DF df, hn::Vec<DF> v, std::byte* p, size_t i) {
  namespace cd = codec::detail::HWY_NAMESPACE;
  if constexpr (kType == 0) {
    hn::StoreU(v, df, reinterpret_cast<float*>(p) + i);
    return v;
  } else if constexpr (kType == 1 && codec::detail::HWY_NAMESPACE::kNativeF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const auto h = hn::DemoteTo(dh, v);
    if constexpr (kStream)
      hn::Stream(h, dh, reinterpret_cast<hwy::float16_t*>(p) + i);
    else
      hn::StoreU(h, dh, reinterpret_cast<hwy::float16_t*>(p) + i);
    return hn::PromoteTo(df, h);
  } else {
    const hn::Rebind<uint16_t, DF> du16;
    const auto bits = kType == 1 ? cd::F32ToF16Bits(df, v) : cd::F32ToBF16Bits(df, v);
    if constexpr (kStream)
      hn::Stream(hn::DemoteTo(du16, bits), du16, reinterpret_cast<uint16_t*>(p) + i);
    else
      hn::StoreU(hn::DemoteTo(du16, bits), du16, reinterpret_cast<uint16_t*>(p) + i);
    return kType == 1 ? cd::F16BitsToF32(df, bits) : cd::BF16BitsToF32(df, bits);
  }
}

template <int kType>
float ScalarLoad(const std::byte* p, size_t i) {
  namespace cd = codec::detail;
  if constexpr (kType == 0) return cd::f32_from_bits(cd::load_u32(p + 4 * i));
  if constexpr (kType == 1) return cd::f16_to_f32(cd::load_u16(p + 2 * i));
  return cd::bf16_to_f32(cd::load_u16(p + 2 * i));
}

template <int kType>
float ScalarStoreRounded(float v, std::byte* p, size_t i) {
  namespace cd = codec::detail;
  if constexpr (kType == 0) {
    cd::store_u32(p + 4 * i, cd::f32_bits(v));
    return v;
  } else if constexpr (kType == 1) {
    const uint16_t h = cd::f32_to_f16(v);
    cd::store_u16(p + 2 * i, h);
    return cd::f16_to_f32(h);
  } else {
    const uint16_t h = cd::f32_to_bf16(v);
    cd::store_u16(p + 2 * i, h);
    return cd::bf16_to_f32(h);
  }
}

HWY_INLINE void StreamFence() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_sfence();
#endif
}

// One pass: W₀ decoded from the source bytes, W_exact from w, W_eff the value stored in dst, each
// float vector widened to double and summed at once (float vectors of the double width, so that
// no temporary arrays are needed). Runs as in AccumulateDeltaSums, converted with F16C where the
// target has it; a run whose sums are not finite is redone element by element with the codec's
// scalar recipes (their NaN bits).
template <int kSrc, int kOut, bool kStream>
HWY_INLINE void FinishRun(const std::byte* src, const float* w, std::byte* dst, size_t i,
                          size_t count, RunLanes& run) {
  const RunLanes::D d64;
  const hn::Rebind<float, RunLanes::D> df;
  for (size_t k = i; k < i + count; k += hn::Lanes(df)) {
    const auto b = LoadAsF32<kSrc>(df, src, k);
    const auto e = hn::LoadU(df, w + k);
    const auto g = StoreRounded<kOut, kStream>(df, e, dst, k);
    const auto ed = hn::PromoteTo(d64, e);
    const auto d = hn::Sub(ed, hn::PromoteTo(d64, b));
    const auto x = hn::PromoteTo(d64, hn::Sub(g, e));  // exact: W_exact minus its own rounding
    run.dd = hn::MulAdd(d, d, run.dd);
    run.xd = hn::MulAdd(x, d, run.xd);
    run.err = hn::MulAdd(x, x, run.err);
  }
}

template <int kSrc, int kOut>
void Finish(const std::byte* src, const float* w, std::byte* dst, size_t n, DeltaSums* sums) {
  const hn::Rebind<float, RunLanes::D> df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  double dd = 0, proj = 0, err = 0;
  bool nonfinite = false;
  const auto scalar = [&](size_t j) {
    const float stored = ScalarStoreRounded<kOut>(w[j], dst, j);
    AddScalar(ScalarLoad<kSrc>(src, j), w[j], stored, dd, proj, err, nonfinite);
  };
  // 16-bit outputs whose vectors are aligned are streamed (each vector's address is dst + 2·i with
  // i a multiple of N, so the tile's start decides).
  constexpr bool kCanStream = kOut != 0 && CanStream16<decltype(df)>();
  const bool stream = kCanStream && reinterpret_cast<uintptr_t>(dst) % (hn::MaxLanes(df) * 2) == 0;
  while (i + N <= n) {
    const size_t count = std::min(kRunVectors, (n - i) / N) * N;
    RunLanes run;
    if (stream)
      FinishRun<kSrc, kOut, kCanStream>(src, w, dst, i, count, run);
    else
      FinishRun<kSrc, kOut, false>(src, w, dst, i, count, run);
    if (!run.Keep(dd, proj, err)) {
      if (stream) StreamFence();  // the scalar redo rewrites what was just streamed
      for (size_t j = i; j < i + count; ++j) scalar(j);
    }
    i += count;
  }
  // Streamed stores are weakly ordered: fence them before the tile is handed on.
  if (stream) StreamFence();
  for (; i < n; ++i) scalar(i);
  sums->dd += dd;
  sums->proj += proj;
  sums->err += err;
  sums->nonfinite |= nonfinite;
}

template <int kSrc>
void FinishFrom(int out, const std::byte* src, const float* w, std::byte* dst, size_t n,
                DeltaSums* sums) {
  if (out == 0) return Finish<kSrc, 0>(src, w, dst, n, sums);
  if (out == 1) return Finish<kSrc, 1>(src, w, dst, n, sums);
  return Finish<kSrc, 2>(src, w, dst, n, sums);
}

void FinishTile(int source, const std::byte* src, const float* w, int out, std::byte* dst, size_t n,
                DeltaSums* sums) {
  if (source == 0) return FinishFrom<0>(out, src, w, dst, n, sums);
  if (source == 1) return FinishFrom<1>(out, src, w, dst, n, sums);
  return FinishFrom<2>(out, src, w, dst, n, sums);
}

}  // namespace lorakit::patch::detail::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace lorakit::patch::detail {

HWY_EXPORT(AccumulateDeltaSums);
HWY_EXPORT(FinishTile);

namespace {
int float_code(DType t) {
  switch (t) {
    case DType::F32:
      return 0;
    case DType::F16:
      return 1;
    case DType::BF16:
      return 2;
    default:
      return -1;
  }
}
}  // namespace

bool fused_finish(DType source, DType out) {
  return float_code(source) >= 0 && float_code(out) >= 0;
}

void finish_tile(DType source, const std::byte* src, const float* w, DType out, std::byte* dst,
                 size_t n, DeltaSums& sums) {
  HWY_DYNAMIC_DISPATCH(FinishTile)(float_code(source), src, w, float_code(out), dst, n, &sums);
}

void accumulate_delta_sums(const float* w0, const float* w, const float* eff, size_t n,
                           DeltaSums& sums) {
  HWY_DYNAMIC_DISPATCH(AccumulateDeltaSums)(w0, w, eff, n, &sums);
}

}  // namespace lorakit::patch::detail
#endif  // HWY_ONCE
