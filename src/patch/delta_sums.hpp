// The sums behind a patched tensor's retention and relative error (patch::Stats), accumulated
// over a tile with SIMD.
#pragma once

#include <cstddef>

#include "lorakit/dtype.hpp"

namespace lorakit::patch::detail {

struct DeltaSums {
  double dd = 0;           // Σ (W_exact − W₀)²
  double proj = 0;         // Σ (W_eff − W₀)·(W_exact − W₀)
  double err = 0;          // Σ (W_eff − W_exact)²
  bool nonfinite = false;  // some W_exact is NaN or ±inf

  DeltaSums& operator+=(const DeltaSums& o) {
    dd += o.dd, proj += o.proj, err += o.err;
    nonfinite |= o.nonfinite;
    return *this;
  }
};

// Adds the sums over n elements; `w0` may be null (W₀ = 0: a padded tensor's whole value is the
// change). Elements whose W_exact − W₀ or W_eff − W₀ is not finite are left out. Differences,
// products and sums are taken in double (SIMD lanes, then runs in order), so the figures match a
// plain double loop to rounding; the order of operations depends only on n, not on threads.
void accumulate_delta_sums(const float* w0, const float* w, const float* eff, size_t n,
                           DeltaSums& sums);

// Whether finish_tile serves a source/output pair: each of F32, F16, BF16.
bool fused_finish(DType source, DType out);

// The last pass of a streamed float tile, fused: dst = encode(out, w) (the bytes codec::encode
// gives) and sums += the delta sums of W₀ = decode(source, src), W_exact = w, W_eff = the stored
// value — one read of each input instead of a decode, a copy, an encode, a decode and the sums.
void finish_tile(DType source, const std::byte* src, const float* w, DType out, std::byte* dst,
                 size_t n, DeltaSums& sums);

}  // namespace lorakit::patch::detail
