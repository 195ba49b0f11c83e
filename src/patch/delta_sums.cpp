// Highway kernels of delta_sums.hpp (the sums alone, and the fused finish of a float tile),
// compiled per SIMD target and chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "patch/delta_sums.cpp"
#include "patch/delta_sums.hpp"

#include <algorithm>

#include "codec/rounding.hpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
// After highway.h, so that it is re-included per target.
#include "codec/simd_half-inl.h"

HWY_BEFORE_NAMESPACE();
namespace lorakit::patch::detail::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

inline bool finite(float v) { return v - v == 0.0f; }  // false for NaN and ±inf

// Vectors per run: partial sums stay in fp32 for at most this many additions per lane.
constexpr size_t kRunVectors = 32;

// Adds one element to the sums in double, with the exclusion rule of delta_sums.hpp.
HWY_INLINE void AddScalar(float base, float exact, float got, double& dd, double& proj, double& err,
                          bool& nonfinite) {
  nonfinite |= !finite(exact);
  const float d = exact - base, r = got - base, x = got - exact;
  if (!finite(d) || !finite(r) || !finite(x)) return;
  const double dd_ = static_cast<double>(exact) - base, r_ = static_cast<double>(got) - base,
               x_ = static_cast<double>(got) - exact;
  dd += dd_ * dd_;
  proj += r_ * dd_;
  err += x_ * x_;
}

// Vector runs take no masks: a NaN or ±inf anywhere in a run (or a square past the fp32 range)
// makes its fp32 sums non-finite, and that run is then redone element by element in double.
// Ordinary weights never take the slow path.
void AccumulateDeltaSums(const float* w0, const float* w, const float* eff, size_t n,
                         DeltaSums* sums) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  const auto zero = hn::Zero(df);
  size_t i = 0;
  double dd = 0, proj = 0, err = 0;
  bool nonfinite = false;
  while (i + N <= n) {
    const size_t vectors = std::min(kRunVectors, (n - i) / N);
    auto sdd = zero, sproj = zero, serr = zero;
    for (size_t v = 0, j = i; v < vectors; ++v, j += N) {
      const auto base = w0 ? hn::LoadU(df, w0 + j) : zero;
      const auto exact = hn::LoadU(df, w + j);
      const auto got = hn::LoadU(df, eff + j);
      const auto d = hn::Sub(exact, base), r = hn::Sub(got, base), x = hn::Sub(got, exact);
      sdd = hn::Add(sdd, hn::Mul(d, d));
      sproj = hn::Add(sproj, hn::Mul(r, d));
      serr = hn::Add(serr, hn::Mul(x, x));
    }
    const float a = hn::GetLane(hn::SumOfLanes(df, sdd)),
                b = hn::GetLane(hn::SumOfLanes(df, sproj)),
                c = hn::GetLane(hn::SumOfLanes(df, serr));
    if (finite(a) && finite(b) && finite(c)) {
      dd += a, proj += b, err += c;
    } else {
      for (size_t j = i; j < i + vectors * N; ++j)
        AddScalar(w0 ? w0[j] : 0.0f, w[j], eff[j], dd, proj, err, nonfinite);
    }
    i += vectors * N;
  }
  for (; i < n; ++i) AddScalar(w0 ? w0[i] : 0.0f, w[i], eff[i], dd, proj, err, nonfinite);
  sums->dd += dd;
  sums->proj += proj;
  sums->err += err;
  sums->nonfinite |= nonfinite;
}

// x86 targets from AVX2 up have F16C: hardware fp16 conversions, round to nearest even — the bits
// of the integer recipe for every non-NaN value (NaN lanes are redone by the checked pass).
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
constexpr bool kNativeF16 = true;
#else
constexpr bool kNativeF16 = false;
#endif

// The float types the fused finish reads and writes: 0 F32, 1 F16, 2 BF16. F16 uses F16C where the
// target has it (the scalar redo of a non-finite run restores the codec's NaN bits), else the
// codec's integer recipes.
template <int kType, class DF>
HWY_INLINE hn::Vec<DF> LoadAsF32(DF df, const std::byte* p, size_t i) {
  namespace cd = codec::detail::HWY_NAMESPACE;
  if constexpr (kType == 0) {
    return hn::LoadU(df, reinterpret_cast<const float*>(p) + i);
  } else if constexpr (kType == 1 && kNativeF16) {
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

// Stores v rounded to the type and returns the stored value as float.
template <int kType, class DF>
HWY_INLINE hn::Vec<DF> StoreRounded(DF df, hn::Vec<DF> v, std::byte* p, size_t i) {
  namespace cd = codec::detail::HWY_NAMESPACE;
  if constexpr (kType == 0) {
    hn::StoreU(v, df, reinterpret_cast<float*>(p) + i);
    return v;
  } else if constexpr (kType == 1 && kNativeF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    const auto h = hn::DemoteTo(dh, v);
    hn::StoreU(h, dh, reinterpret_cast<hwy::float16_t*>(p) + i);
    return hn::PromoteTo(df, h);
  } else {
    const hn::Rebind<uint16_t, DF> du16;
    const auto bits = kType == 1 ? cd::F32ToF16Bits(df, v) : cd::F32ToBF16Bits(df, v);
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

// One pass: W₀ decoded from the source bytes, W_exact from w, W_eff the value stored in dst. Runs
// as in AccumulateDeltaSums: vector runs with F16C where the target has it, and a run whose sums
// are not finite redone element by element with the codec's scalar recipes (their NaN bits) and
// double sums.
template <int kSrc, int kOut>
void Finish(const std::byte* src, const float* w, std::byte* dst, size_t n, DeltaSums* sums) {
  const hn::ScalableTag<float> df;
  const size_t N = hn::Lanes(df);
  size_t i = 0;
  double dd = 0, proj = 0, err = 0;
  bool nonfinite = false;
  const auto scalar = [&](size_t j) {
    const float got = ScalarStoreRounded<kOut>(w[j], dst, j);
    AddScalar(ScalarLoad<kSrc>(src, j), w[j], got, dd, proj, err, nonfinite);
  };
  while (i + N <= n) {
    const size_t vectors = std::min(kRunVectors, (n - i) / N);
    auto sdd = hn::Zero(df), sproj = hn::Zero(df), serr = hn::Zero(df);
    for (size_t v = 0, j = i; v < vectors; ++v, j += N) {
      const auto base = LoadAsF32<kSrc>(df, src, j);
      const auto exact = hn::LoadU(df, w + j);
      const auto got = StoreRounded<kOut>(df, exact, dst, j);
      const auto d = hn::Sub(exact, base), r = hn::Sub(got, base), x = hn::Sub(got, exact);
      sdd = hn::Add(sdd, hn::Mul(d, d));
      sproj = hn::Add(sproj, hn::Mul(r, d));
      serr = hn::Add(serr, hn::Mul(x, x));
    }
    const float a = hn::GetLane(hn::SumOfLanes(df, sdd)),
                b = hn::GetLane(hn::SumOfLanes(df, sproj)),
                c = hn::GetLane(hn::SumOfLanes(df, serr));
    if (finite(a) && finite(b) && finite(c)) {
      dd += a, proj += b, err += c;
    } else {
      for (size_t j = i; j < i + vectors * N; ++j) scalar(j);
    }
    i += vectors * N;
  }
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
