// Float64 reference arithmetic for patch tests: LoRA deltas by explicit loops and the rounding
// bounds of the storage types, independent of the code under test.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "lorakit/dtype.hpp"

namespace lorakit::testing {

// One LoRA term s·γ·B·A with B [out, r] and A [r, in] (row-major floats).
struct LoraTerm {
  const std::vector<float>* b;
  const std::vector<float>* a;
  uint64_t rank;
  double scale;  // s·γ
};

// ref = w0 + Σ terms (float64), and mag = |w0| + Σ |s·γ|·Σ_k |B·A| per element (for error bounds).
inline void lora_reference(const std::vector<float>& w0, uint64_t out, uint64_t in,
                           const std::vector<LoraTerm>& terms, std::vector<double>& ref,
                           std::vector<double>& mag) {
  ref.assign(w0.begin(), w0.end());
  mag.resize(w0.size());
  for (size_t i = 0; i < w0.size(); ++i) mag[i] = std::fabs(static_cast<double>(w0[i]));
  for (const auto& t : terms)
    for (uint64_t o = 0; o < out; ++o)
      for (uint64_t i = 0; i < in; ++i) {
        double acc = 0, am = 0;
        for (uint64_t k = 0; k < t.rank; ++k) {
          const double p = static_cast<double>((*t.b)[o * t.rank + k]) * (*t.a)[k * in + i];
          acc += p;
          am += std::fabs(p);
        }
        ref[o * in + i] += t.scale * acc;
        mag[o * in + i] += std::fabs(t.scale) * am;
      }
}

// The spacing of a storage type's grid at x (subnormal spacing below the normal range).
inline double ulp_of(DType t, double x) {
  int mant = 23, emin = -126;
  switch (t) {
    case DType::F16:
      mant = 10, emin = -14;
      break;
    case DType::BF16:
      mant = 7, emin = -126;
      break;
    case DType::F8_E4M3:
      mant = 3, emin = -6;
      break;
    case DType::F8_E5M2:
      mant = 2, emin = -14;
      break;
    default:
      break;
  }
  const int e =
      x == 0 ? emin : std::max(static_cast<int>(std::floor(std::log2(std::fabs(x)))), emin);
  return std::ldexp(1.0, e - mant);
}

// fp32 accumulation error bound of a rank-r product sum plus the additions onto W (a generous
// γ_n bound: (r + terms + 2)·2⁻²⁴·mag).
inline double fp32_bound(double mag, uint64_t rank_total) {
  return static_cast<double>(rank_total + 4) * std::ldexp(1.0, -24) * mag;
}

}  // namespace lorakit::testing
