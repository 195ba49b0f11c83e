// Helpers for the record-math tests: hand-built records (no files), deterministic random tensors,
// float64 index-loop helpers, and a comparison with a tolerance of a few fp32 ulps relative to the
// magnitudes that entered each element.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "patch/record_math.hpp"

namespace lorakit::testing::record_math {

using patch::detail::RecordFactors;
using patch::detail::Tensor32;
using Shape = std::vector<uint64_t>;

inline uint64_t count(const Shape& s) {
  uint64_t n = 1;
  for (uint64_t d : s) n *= d;
  return n;
}

// Values in [-1, 1) from a fixed linear congruential sequence (no <random>: identical everywhere).
inline Tensor32 rnd(Shape shape, uint32_t seed, float scale = 1.0f) {
  Tensor32 t;
  t.shape = std::move(shape);
  t.data.resize(count(t.shape));
  uint64_t x = 0x9E3779B97F4A7C15ull ^ (uint64_t{seed} * 0x100000001B3ull);
  for (float& v : t.data) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(x >> 11) / 9007199254740992.0;  // [0, 1)
    v = static_cast<float>((2.0 * u - 1.0) * scale);
  }
  return t;
}

inline Tensor32 tensor(Shape shape, std::vector<float> values) {
  Tensor32 t;
  t.shape = std::move(shape);
  t.data = std::move(values);
  EXPECT_EQ(t.data.size(), count(t.shape));
  return t;
}

// A record built by hand: the module (kind, γ, DoRA axis, …) and its decoded factors.
struct Record {
  adapter::Module module;
  RecordFactors rf;

  explicit Record(adapter::Kind kind, float gamma = 1.0f) {
    module.prefix = "test_prefix";
    module.kind = kind;
    module.alpha_scale = gamma;
  }
  Record(const Record&) = delete;
  Record& operator=(const Record&) = delete;

  Record& factor(const std::string& role, Tensor32 t) {
    rf.factors[role] = std::move(t);
    return *this;
  }
  Record& bias(const std::string& role, Tensor32 t) {
    rf.bias[role] = std::move(t);
    return *this;
  }
  Record& dora(Tensor32 m, adapter::Module::DoraAxis axis) {
    rf.dora_scale = std::move(m);
    module.dora_axis = axis;
    module.dora_scale = adapter::Factor{"test_prefix.dora_scale", nullptr};
    return *this;
  }
  const Tensor32& f(const std::string& role) const { return rf.factors.at(role); }

  // Applies the record to a copy of w and returns it.
  std::vector<float> apply(const Tensor32& w, float s,
                           std::vector<std::string>* warnings = nullptr) {
    rf.module = &module;
    std::vector<float> out = w.data;
    std::vector<std::string> local;
    patch::detail::apply_record(rf, s, out, w.shape, warnings ? *warnings : local);
    return out;
  }
  RecordFactors& factors() {
    rf.module = &module;
    return rf;
  }
};

// Element-wise check: |got − want| ≤ k·2⁻²⁴·mag (mag: the sum of the magnitudes that entered the
// element, e.g. |W| + |s·γ|·Σ|B||A|), plus a tiny absolute floor for exact zeros.
inline void expect_close(const std::vector<float>& got, const std::vector<double>& want,
                         const std::vector<double>& mag, double k = 16.0) {
  ASSERT_EQ(got.size(), want.size());
  ASSERT_EQ(mag.size(), want.size());
  int reported = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = k * std::ldexp(1.0, -24) * mag[i] + 1e-30;
    const double err = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= tol) && reported++ < 8)
      ADD_FAILURE() << "element " << i << ": got " << got[i] << ", want " << want[i] << " (error "
                    << err << ", tolerance " << tol << ")";
  }
}

// Same, with one magnitude for every element (for W-dependent types whose error is not
// element-local: OFT, BOFT, DoRA).
inline void expect_close_scaled(const std::vector<float>& got, const std::vector<double>& want,
                                double scale, double k = 64.0) {
  expect_close(got, want, std::vector<double>(want.size(), scale), k);
}

inline bool bit_identical(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

inline Tensor32 abs_of(const Tensor32& t) {
  Tensor32 a = t;
  for (float& x : a.data) x = std::fabs(x);
  return a;
}

// Matrix product in double with explicit loops: a [m, k] · b [k, n].
inline std::vector<double> matmul(const std::vector<double>& a, const std::vector<double>& b,
                                  uint64_t m, uint64_t k, uint64_t n) {
  std::vector<double> c(m * n, 0.0);
  for (uint64_t i = 0; i < m; ++i)
    for (uint64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (uint64_t l = 0; l < k; ++l) acc += a[i * k + l] * b[l * n + j];
      c[i * n + j] = acc;
    }
  return c;
}

}  // namespace lorakit::testing::record_math
