// Record math for the other adapter types (lora-formats.md §8.3–§8.10, §10): LoHa, LoKr, GLoRA,
// DoRA, OFT, BOFT, (IA)³, full, norm and set, each against a float64 reference written in this file
// from the spec formulas with index loops, plus hand-derived small cases.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "lorakit/error.hpp"
#include "record_math_fixtures.hpp"

namespace lorakit::testing::record_math {
namespace {

using adapter::Kind;
using Axis = adapter::Module::DoraAxis;
using Ref = std::vector<double>;

// ---- references ------------------------------------------------------------------------------

// (w_a·w_b)[o, j] for w_a [out, r], w_b [r, cols] (flattened).
Ref prod2(const Tensor32& wa, const Tensor32& wb) {
  const uint64_t out = wa.shape[0], r = wa.shape[1], cols = count(wb.shape) / r;
  return matmul(to_double(wa.data), to_double(wb.data), out, r, cols);
}

// R[p,q,h,w] = Σ_{a,b} t[a,b,h,w]·wb[b,q]·wa[a,p] (§8.3 Tucker, §8.4 lokr_t2).
Ref tucker_ref(const Tensor32& wa, const Tensor32& wb, const Tensor32& t) {
  const uint64_t ra = t.shape[0], rb = t.shape[1], kh = t.shape[2], kw = t.shape[3];
  const uint64_t out = wa.shape[1], in = wb.shape[1];
  Ref r(out * in * kh * kw, 0.0);
  for (uint64_t p = 0; p < out; ++p)
    for (uint64_t q = 0; q < in; ++q)
      for (uint64_t h = 0; h < kh; ++h)
        for (uint64_t x = 0; x < kw; ++x) {
          double acc = 0;
          for (uint64_t a = 0; a < ra; ++a)
            for (uint64_t b = 0; b < rb; ++b)
              acc += static_cast<double>(t.data[((a * rb + b) * kh + h) * kw + x]) *
                     wb.data[b * in + q] * wa.data[a * out + p];
          r[((p * in + q) * kh + h) * kw + x] = acc;
        }
  return r;
}

Ref hadamard(const Ref& a, const Ref& b) {
  Ref c(a.size());
  for (size_t i = 0; i < a.size(); ++i) c[i] = a[i] * b[i];
  return c;
}

// ΔW[a·o2 + b, c·n2 + e] = w1[a,c]·w2[b,e] for w1 [o1, i1], w2 [o2, n2].
Ref kron(const Ref& w1, uint64_t o1, uint64_t i1, const Ref& w2, uint64_t o2, uint64_t n2) {
  Ref d(o1 * o2 * i1 * n2);
  for (uint64_t a = 0; a < o1; ++a)
    for (uint64_t b = 0; b < o2; ++b)
      for (uint64_t c = 0; c < i1; ++c)
        for (uint64_t e = 0; e < n2; ++e)
          d[(a * o2 + b) * (i1 * n2) + c * n2 + e] = w1[a * i1 + c] * w2[b * n2 + e];
  return d;
}

// W + c·Δ with magnitude |W| + |c|·|Δ|mag.
void additive(const Tensor32& w, double c, const Ref& d, const Ref& dmag, Ref& want, Ref& mag) {
  want.resize(w.data.size());
  mag.resize(w.data.size());
  for (size_t i = 0; i < w.data.size(); ++i) {
    want[i] = w.data[i] + c * d[i];
    mag[i] = std::fabs(w.data[i]) + std::fabs(c) * dmag[i];
  }
}

// Inverse by Gauss-Jordan with partial pivoting (independent of the LAPACK path).
Ref inverse(Ref a, uint64_t n) {
  Ref inv(n * n, 0.0);
  for (uint64_t i = 0; i < n; ++i) inv[i * n + i] = 1.0;
  for (uint64_t col = 0; col < n; ++col) {
    uint64_t piv = col;
    for (uint64_t r = col + 1; r < n; ++r)
      if (std::fabs(a[r * n + col]) > std::fabs(a[piv * n + col])) piv = r;
    for (uint64_t j = 0; j < n; ++j) {
      std::swap(a[col * n + j], a[piv * n + j]);
      std::swap(inv[col * n + j], inv[piv * n + j]);
    }
    const double d = a[col * n + col];
    for (uint64_t j = 0; j < n; ++j) {
      a[col * n + j] /= d;
      inv[col * n + j] /= d;
    }
    for (uint64_t r = 0; r < n; ++r) {
      if (r == col) continue;
      const double f = a[r * n + col];
      for (uint64_t j = 0; j < n; ++j) {
        a[r * n + j] -= f * a[col * n + j];
        inv[r * n + j] -= f * inv[col * n + j];
      }
    }
  }
  return inv;
}

// The rotations of §8.7 steps 1–3 for `nblocks` blocks of b×b: Q = B − Bᵀ, the Frobenius-norm
// constraint over all blocks (c > 0), R = (I + Q)·(I − Q)⁻¹.
std::vector<Ref> rotations(const Tensor32& blocks, uint64_t nblocks, uint64_t b, double c) {
  std::vector<Ref> q(nblocks, Ref(b * b));
  double ss = 0;
  for (uint64_t n = 0; n < nblocks; ++n)
    for (uint64_t i = 0; i < b; ++i)
      for (uint64_t j = 0; j < b; ++j) {
        q[n][i * b + j] = static_cast<double>(blocks.data[n * b * b + i * b + j]) -
                          blocks.data[n * b * b + j * b + i];
        ss += q[n][i * b + j] * q[n][i * b + j];
      }
  const double norm = std::sqrt(ss) + 1e-8;
  if (c > 0 && norm > c)
    for (auto& m : q)
      for (double& x : m) x *= c / norm;
  std::vector<Ref> r;
  for (const Ref& qq : q) {
    Ref plus(b * b), minus(b * b);
    for (uint64_t i = 0; i < b; ++i)
      for (uint64_t j = 0; j < b; ++j) {
        plus[i * b + j] = (i == j) + qq[i * b + j];
        minus[i * b + j] = (i == j) - qq[i * b + j];
      }
    r.push_back(matmul(plus, inverse(minus, b), b, b, b));
  }
  return r;
}

// OFT F(W): F_j = R_jᵀ·W_j, then ρ per row.
Ref oft_ref(const Tensor32& w, const Tensor32& blocks, double c, const Tensor32* rescale) {
  const uint64_t k = blocks.shape[0], b = blocks.shape[1];
  const uint64_t rows = w.shape[0], cols = count(w.shape) / rows;
  const std::vector<Ref> r = rotations(blocks, k, b, c);
  Ref f(rows * cols, 0.0);
  for (uint64_t j = 0; j < k; ++j)
    for (uint64_t i = 0; i < b; ++i)
      for (uint64_t col = 0; col < cols; ++col) {
        double acc = 0;
        for (uint64_t l = 0; l < b; ++l)
          acc += r[j][l * b + i] * w.data[(j * b + l) * cols + col];  // (Rᵀ)[i,l] = R[l,i]
        f[(j * b + i) * cols + col] = acc * (rescale ? rescale->data[j * b + i] : 1.0);
      }
  return f;
}

// BOFT F(W) through explicit matrices: Y ← Pᵀ·D·P·Y per stage with P the permutation matrix of
// §8.8 step 1 (P[p, n] = 1 when row n moves to position p) and D block-diagonal of R_{ℓ,j}.
Ref boft_ref(const Tensor32& w, const Tensor32& blocks, double c, const Tensor32* rescale) {
  const uint64_t m = blocks.shape[0], k = blocks.shape[1], b = blocks.shape[2];
  const uint64_t rows = w.shape[0], cols = count(w.shape) / rows;
  const std::vector<Ref> r = rotations(blocks, m * k, b, c);
  Ref y = to_double(w.data);
  for (uint64_t l = 0; l < m; ++l) {
    const uint64_t kappa = (uint64_t{1} << l) * b / 2;
    Ref p(rows * rows, 0.0), pt(rows * rows, 0.0), d(rows * rows, 0.0);
    for (uint64_t n = 0; n < rows; ++n) {
      const uint64_t a = n / (2 * kappa), g = (n % (2 * kappa)) / kappa, cc = n % kappa;
      const uint64_t pos = a * 2 * kappa + 2 * cc + g;
      p[pos * rows + n] = 1.0;
      pt[n * rows + pos] = 1.0;
    }
    for (uint64_t j = 0; j < k; ++j)
      for (uint64_t i = 0; i < b; ++i)
        for (uint64_t q = 0; q < b; ++q)
          d[(j * b + i) * rows + j * b + q] = r[l * k + j][i * b + q];
    const Ref t = matmul(pt, matmul(d, p, rows, rows, rows), rows, rows, rows);
    y = matmul(t, y, rows, rows, cols);
  }
  if (rescale)
    for (uint64_t o = 0; o < rows; ++o)
      for (uint64_t col = 0; col < cols; ++col) y[o * cols + col] *= rescale->data[o];
  return y;
}

// DoRA (§8.6): F = m/(‖V‖ + 2⁻²³)·V along the axis, W′ = W + s·(F − W).
Ref dora_ref(const Tensor32& w, const Ref& v, const Tensor32& mag, bool input, double s) {
  const uint64_t rows = w.shape[0], cols = count(w.shape) / rows;
  const uint64_t in = w.shape.size() >= 2 ? w.shape[1] : 1, sp = cols / in;
  const uint64_t n = input ? in : rows;
  Ref ss(n, 0.0);
  for (uint64_t o = 0; o < rows; ++o)
    for (uint64_t i = 0; i < in; ++i)
      for (uint64_t h = 0; h < sp; ++h) {
        const double x = v[o * cols + i * sp + h];
        ss[input ? i : o] += x * x;
      }
  Ref out(w.data.size());
  for (uint64_t o = 0; o < rows; ++o)
    for (uint64_t i = 0; i < in; ++i)
      for (uint64_t h = 0; h < sp; ++h) {
        const uint64_t idx = o * cols + i * sp + h;
        const uint64_t a = input ? i : o;
        const double f = mag.data[a] / (std::sqrt(ss[a]) + std::ldexp(1.0, -23)) * v[idx];
        out[idx] = w.data[idx] + s * (f - w.data[idx]);
      }
  return out;
}

Ref interpolate_ref(const Tensor32& w, const Ref& f, double s) {
  Ref out(w.data.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = w.data[i] + s * (f[i] - w.data[i]);
  return out;
}

double scale_of(const Tensor32& w, const Ref& f) {
  return std::max(max_abs(to_double(w.data)), max_abs(f));
}

// For additive types: W(s) − W = s·(W(1) − W) within rounding.
void expect_linear(Record& r, const Tensor32& w) {
  const std::vector<float> one = r.apply(w, 1.0f), two = r.apply(w, 2.0f), neg = r.apply(w, -0.5f);
  Ref want2(w.data.size()), wantn(w.data.size()), mag(w.data.size());
  for (size_t i = 0; i < w.data.size(); ++i) {
    const double d = static_cast<double>(one[i]) - w.data[i];
    want2[i] = w.data[i] + 2.0 * d;
    wantn[i] = w.data[i] - 0.5 * d;
    mag[i] = 4.0 * (std::fabs(w.data[i]) + std::fabs(d)) + 1e-6;
  }
  expect_close(two, want2, mag, 64.0);
  expect_close(neg, wantn, mag, 64.0);
}

// ---- LoHa --------------------------------------------------------------------------------------

TEST(RecordMathLoha, PlainMatchesReference) {
  // ΔW = (w1a·w1b) ⊙ (w2a·w2b), reshaped onto a conv (§8.3).
  Record r(Kind::LoHa, 0.5f);
  r.factor("w1a", rnd({4, 3}, 1))
      .factor("w1b", rnd({3, 2 * 3 * 3}, 2))
      .factor("w2a", rnd({4, 2}, 3))
      .factor("w2b", rnd({2, 2 * 3 * 3}, 4));
  const Tensor32 w = rnd({4, 2, 3, 3}, 5);
  const Ref d = hadamard(prod2(r.f("w1a"), r.f("w1b")), prod2(r.f("w2a"), r.f("w2b")));
  const Ref dm = hadamard(prod2(abs_of(r.f("w1a")), abs_of(r.f("w1b"))),
                          prod2(abs_of(r.f("w2a")), abs_of(r.f("w2b"))));
  Ref want, mag;
  additive(w, 0.8 * 0.5, d, dm, want, mag);
  expect_close(r.apply(w, 0.8f), want, mag);
  expect_linear(r, w);
}

TEST(RecordMathLoha, HandDerived) {
  // w1 = [1 2]ᵀ·[1 1] = [1 1; 2 2], w2 = [3 1]ᵀ·[1 -1] = [3 -3; 1 -1]; ΔW = [3 -3; 2 -2].
  Record r(Kind::LoHa, 1.0f);
  r.factor("w1a", tensor({2, 1}, {1, 2}))
      .factor("w1b", tensor({1, 2}, {1, 1}))
      .factor("w2a", tensor({2, 1}, {3, 1}))
      .factor("w2b", tensor({1, 2}, {1, -1}));
  EXPECT_EQ(r.apply(tensor({2, 2}, {0, 0, 0, 0}), 1.0f), (std::vector<float>{3, -3, 2, -2}));
}

TEST(RecordMathLoha, TuckerWithTransposedWa) {
  // w_a [r, out], w_b [r, in], t [r, r, kh, kw]: R_k = Σ t·w_b·w_a; ΔW = R_1 ⊙ R_2.
  const uint64_t out = 3, in = 4, r1 = 2, r2 = 3, kh = 3, kw = 2;
  Record r(Kind::LoHa, 0.25f);
  r.factor("w1a", rnd({r1, out}, 11))
      .factor("w1b", rnd({r1, in}, 12))
      .factor("t1", rnd({r1, r1, kh, kw}, 13))
      .factor("w2a", rnd({r2, out}, 14))
      .factor("w2b", rnd({r2, in}, 15))
      .factor("t2", rnd({r2, r2, kh, kw}, 16));
  const Tensor32 w = rnd({out, in, kh, kw}, 17);
  const Ref d = hadamard(tucker_ref(r.f("w1a"), r.f("w1b"), r.f("t1")),
                         tucker_ref(r.f("w2a"), r.f("w2b"), r.f("t2")));
  const Ref dm = hadamard(tucker_ref(abs_of(r.f("w1a")), abs_of(r.f("w1b")), abs_of(r.f("t1"))),
                          tucker_ref(abs_of(r.f("w2a")), abs_of(r.f("w2b")), abs_of(r.f("t2"))));
  Ref want, mag;
  additive(w, -1.25 * 0.25, d, dm, want, mag);
  expect_close(r.apply(w, -1.25f), want, mag);
}

// ---- LoKr --------------------------------------------------------------------------------------

TEST(RecordMathLokr, HandDerivedKronecker2x2) {
  // [1 2; 3 4] ⊗ [0 5; 6 7] written out.
  Record r(Kind::LoKr, 1.0f);
  r.factor("w1", tensor({2, 2}, {1, 2, 3, 4})).factor("w2", tensor({2, 2}, {0, 5, 6, 7}));
  const std::vector<float> want = {0,  5,  0,  10,  //
                                   6,  7,  12, 14,  //
                                   0,  15, 0,  20,  //
                                   18, 21, 24, 28};
  EXPECT_EQ(r.apply(tensor({4, 4}, std::vector<float>(16, 0.0f)), 1.0f), want);
}

TEST(RecordMathLokr, FactoredW1WholeW2) {
  Record r(Kind::LoKr, 0.5f);  // γ = α/d as the adapter layer computed it
  r.factor("w1a", rnd({2, 3}, 21)).factor("w1b", rnd({3, 3}, 22)).factor("w2", rnd({3, 4}, 23));
  const Tensor32 w = rnd({6, 12}, 24);
  const Ref w1 = prod2(r.f("w1a"), r.f("w1b")), w1m = prod2(abs_of(r.f("w1a")), abs_of(r.f("w1b")));
  const Ref d = kron(w1, 2, 3, to_double(r.f("w2").data), 3, 4);
  const Ref dm = kron(w1m, 2, 3, to_double(abs_of(r.f("w2")).data), 3, 4);
  Ref want, mag;
  additive(w, 1.5 * 0.5, d, dm, want, mag);
  expect_close(r.apply(w, 1.5f), want, mag);
  expect_linear(r, w);
}

TEST(RecordMathLokr, FactoredW2OnConv) {
  // w2 = w2_a·w2_b with w2_b [r, i2·kh·kw]: the 2-D product reshaped equals the 4-D one (§8.4).
  const uint64_t o1 = 2, i1 = 2, o2 = 3, i2 = 2, kh = 3, kw = 3;
  Record r(Kind::LoKr, 2.0f);
  r.factor("w1", rnd({o1, i1}, 31))
      .factor("w2a", rnd({o2, 2}, 32))
      .factor("w2b", rnd({2, i2 * kh * kw}, 33));
  const Tensor32 w = rnd({o1 * o2, i1 * i2, kh, kw}, 34);
  const Ref w2 = prod2(r.f("w2a"), r.f("w2b")), w2m = prod2(abs_of(r.f("w2a")), abs_of(r.f("w2b")));
  // 4-D index form: ΔW[a·o2 + b, c·i2 + e, h, w] = w1[a,c]·w2[b, e, h, w].
  Ref d(w.data.size()), dm(w.data.size());
  const Tensor32& w1 = r.f("w1");
  for (uint64_t a = 0; a < o1; ++a)
    for (uint64_t b = 0; b < o2; ++b)
      for (uint64_t c = 0; c < i1; ++c)
        for (uint64_t e = 0; e < i2; ++e)
          for (uint64_t hw = 0; hw < kh * kw; ++hw) {
            const uint64_t idx = ((a * o2 + b) * (i1 * i2) + c * i2 + e) * kh * kw + hw;
            d[idx] = w1.data[a * i1 + c] * w2[b * i2 * kh * kw + e * kh * kw + hw];
            dm[idx] = std::fabs(w1.data[a * i1 + c]) * w2m[b * i2 * kh * kw + e * kh * kw + hw];
          }
  Ref want, mag;
  additive(w, 0.5 * 2.0, d, dm, want, mag);
  expect_close(r.apply(w, 0.5f), want, mag);
}

TEST(RecordMathLokr, FourDimensionalW2) {
  // w2 [o2, i2, kh, kw] whole; w1 read as [o1, i1, 1, 1].
  const uint64_t o1 = 3, i1 = 2, o2 = 2, i2 = 3, kh = 2, kw = 3;
  Record r(Kind::LoKr, 1.0f);
  r.factor("w1", rnd({o1, i1}, 41)).factor("w2", rnd({o2, i2, kh, kw}, 42));
  const Tensor32 w = rnd({o1 * o2, i1 * i2, kh, kw}, 43);
  const Tensor32 &w1 = r.f("w1"), &w2 = r.f("w2");
  Ref want(w.data.size()), mag(w.data.size());
  for (uint64_t a = 0; a < o1; ++a)
    for (uint64_t b = 0; b < o2; ++b)
      for (uint64_t c = 0; c < i1; ++c)
        for (uint64_t e = 0; e < i2; ++e)
          for (uint64_t h = 0; h < kh; ++h)
            for (uint64_t x = 0; x < kw; ++x) {
              const uint64_t idx = (((a * o2 + b) * (i1 * i2) + c * i2 + e) * kh + h) * kw + x;
              const double t = static_cast<double>(w1.data[a * i1 + c]) *
                               w2.data[((b * i2 + e) * kh + h) * kw + x];
              want[idx] = w.data[idx] + 0.7 * t;
              mag[idx] = std::fabs(w.data[idx]) + 0.7 * std::fabs(t);
            }
  expect_close(r.apply(w, 0.7f), want, mag);
}

TEST(RecordMathLokr, TuckerT2) {
  // w2[p,q,h,w] = Σ t2[a,b,h,w]·w2_b[b,q]·w2_a[a,p] with w2_a [r, o2], w2_b [r, i2].
  const uint64_t o1 = 2, i1 = 2, o2 = 3, i2 = 2, r2 = 2, kh = 3, kw = 3;
  Record r(Kind::LoKr, 0.5f);
  r.factor("w1", rnd({o1, i1}, 51))
      .factor("w2a", rnd({r2, o2}, 52))
      .factor("w2b", rnd({r2, i2}, 53))
      .factor("t2", rnd({r2, r2, kh, kw}, 54));
  const Tensor32 w = rnd({o1 * o2, i1 * i2, kh, kw}, 55);
  const Ref w2 = tucker_ref(r.f("w2a"), r.f("w2b"), r.f("t2"));
  const Ref w2m = tucker_ref(abs_of(r.f("w2a")), abs_of(r.f("w2b")), abs_of(r.f("t2")));
  const Tensor32& w1 = r.f("w1");
  Ref want(w.data.size()), mag(w.data.size());
  for (uint64_t a = 0; a < o1; ++a)
    for (uint64_t b = 0; b < o2; ++b)
      for (uint64_t c = 0; c < i1; ++c)
        for (uint64_t e = 0; e < i2; ++e)
          for (uint64_t hw = 0; hw < kh * kw; ++hw) {
            const uint64_t idx = ((a * o2 + b) * (i1 * i2) + c * i2 + e) * kh * kw + hw;
            const uint64_t j2 = (b * i2 + e) * kh * kw + hw;
            want[idx] = w.data[idx] + 0.5 * w1.data[a * i1 + c] * w2[j2];
            mag[idx] = std::fabs(w.data[idx]) + 0.5 * std::fabs(w1.data[a * i1 + c]) * w2m[j2];
          }
  expect_close(r.apply(w, 1.0f), want, mag);
}

// ---- GLoRA -------------------------------------------------------------------------------------

TEST(RecordMathGlora, NewFormatLinear) {
  // ΔW = (W·a1)·a2 + b1·b2: a1 [in, r], a2 [r, in], b1 [out, r], b2 [r, in].
  const uint64_t out = 5, in = 4, r = 2;
  Record rec(Kind::GLoRA, 0.5f);
  rec.factor("a1", rnd({in, r}, 61))
      .factor("a2", rnd({r, in}, 62))
      .factor("b1", rnd({out, r}, 63))
      .factor("b2", rnd({r, in}, 64));
  const Tensor32 w = rnd({out, in}, 65);
  Ref want(w.data.size()), mag(w.data.size());
  const Tensor32 &a1 = rec.f("a1"), &a2 = rec.f("a2"), &b1 = rec.f("b1"), &b2 = rec.f("b2");
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t k = 0; k < in; ++k) {
      double acc = 0, am = 0;
      for (uint64_t i = 0; i < in; ++i)
        for (uint64_t j = 0; j < r; ++j) {
          const double t =
              static_cast<double>(w.data[o * in + i]) * a1.data[i * r + j] * a2.data[j * in + k];
          acc += t;
          am += std::fabs(t);
        }
      for (uint64_t j = 0; j < r; ++j) {
        const double t = static_cast<double>(b1.data[o * r + j]) * b2.data[j * in + k];
        acc += t;
        am += std::fabs(t);
      }
      want[o * in + k] = w.data[o * in + k] + 1.5 * 0.5 * acc;
      mag[o * in + k] = std::fabs(w.data[o * in + k]) + 0.75 * am;
    }
  expect_close(rec.apply(w, 1.5f), want, mag);
  expect_linear(rec, w);
}

TEST(RecordMathGlora, NewFormatConvContractsInputChannels) {
  // (W·a1·a2)[o,k,h,w] = Σ_{i,j} W[o,i,h,w]·a1[i,j]·a2[j,k]; b2 [r, in·kh·kw].
  const uint64_t out = 3, in = 4, r = 2, kh = 3, kw = 2, sp = kh * kw;
  Record rec(Kind::GLoRA, 1.0f);
  rec.factor("a1", rnd({in, r, 1, 1}, 71))
      .factor("a2", rnd({r, in, 1, 1}, 72))
      .factor("b1", rnd({out, r, 1, 1}, 73))
      .factor("b2", rnd({r, in, kh, kw}, 74));
  const Tensor32 w = rnd({out, in, kh, kw}, 75);
  const Tensor32 &a1 = rec.f("a1"), &a2 = rec.f("a2"), &b1 = rec.f("b1"), &b2 = rec.f("b2");
  Ref want(w.data.size()), mag(w.data.size());
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t k = 0; k < in; ++k)
      for (uint64_t hw = 0; hw < sp; ++hw) {
        double acc = 0, am = 0;
        for (uint64_t i = 0; i < in; ++i)
          for (uint64_t j = 0; j < r; ++j) {
            const double t = static_cast<double>(w.data[(o * in + i) * sp + hw]) *
                             a1.data[i * r + j] * a2.data[j * in + k];
            acc += t;
            am += std::fabs(t);
          }
        for (uint64_t j = 0; j < r; ++j) {
          const double t =
              static_cast<double>(b1.data[o * r + j]) * b2.data[(j * in + k) * sp + hw];
          acc += t;
          am += std::fabs(t);
        }
        const uint64_t idx = (o * in + k) * sp + hw;
        want[idx] = w.data[idx] + acc;
        mag[idx] = std::fabs(w.data[idx]) + am;
      }
  expect_close(rec.apply(w, 1.0f), want, mag);
}

TEST(RecordMathGlora, OldFormat) {
  // ΔW = b2·b1 + (flat2(W)·a2)·a1: b2 [out, r], b1 [r, in], a2 [in, r], a1 [r, in].
  const uint64_t out = 4, in = 3, r = 2;
  Record rec(Kind::GLoRA, 0.5f);
  rec.module.glora_old = true;
  rec.factor("a1", rnd({r, in}, 81))
      .factor("a2", rnd({in, r}, 82))
      .factor("b1", rnd({r, in}, 83))
      .factor("b2", rnd({out, r}, 84));
  const Tensor32 w = rnd({out, in}, 85);
  const Tensor32 &a1 = rec.f("a1"), &a2 = rec.f("a2"), &b1 = rec.f("b1"), &b2 = rec.f("b2");
  Ref want(w.data.size()), mag(w.data.size());
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t k = 0; k < in; ++k) {
      double acc = 0, am = 0;
      for (uint64_t j = 0; j < r; ++j) {
        const double t = static_cast<double>(b2.data[o * r + j]) * b1.data[j * in + k];
        acc += t;
        am += std::fabs(t);
        for (uint64_t i = 0; i < in; ++i) {
          const double u =
              static_cast<double>(w.data[o * in + i]) * a2.data[i * r + j] * a1.data[j * in + k];
          acc += u;
          am += std::fabs(u);
        }
      }
      want[o * in + k] = w.data[o * in + k] + 0.5 * acc;
      mag[o * in + k] = std::fabs(w.data[o * in + k]) + 0.5 * am;
    }
  expect_close(rec.apply(w, 1.0f), want, mag);
}

// ---- DoRA --------------------------------------------------------------------------------------

TEST(RecordMathDora, HandDerivedOutputAxis) {
  // W = [3 4], ΔW = 0, m = 10: ‖V‖ = 5, F = 10/(5 + 2⁻²³)·[3 4] ≈ [6 8].
  Record r(Kind::LoRA, 1.0f);
  r.factor("down", tensor({1, 2}, {0, 0})).factor("up", tensor({1, 1}, {0}));
  r.dora(tensor({1}, {10}), Axis::Output);
  const std::vector<float> got = r.apply(tensor({1, 2}, {3, 4}), 1.0f);
  const double f = 10.0 / (5.0 + std::ldexp(1.0, -23));
  EXPECT_FLOAT_EQ(got[0], static_cast<float>(3 * f));
  EXPECT_FLOAT_EQ(got[1], static_cast<float>(4 * f));
  const std::vector<float> half = r.apply(tensor({1, 2}, {3, 4}), 0.5f);
  EXPECT_FLOAT_EQ(half[0], static_cast<float>(3 + 0.5 * (3 * f - 3)));
  EXPECT_FLOAT_EQ(half[1], static_cast<float>(4 + 0.5 * (4 * f - 4)));
}

TEST(RecordMathDora, EpsilonGuardsSmallAndZeroNorms) {
  // Row 0 has norm 2⁻²³ = ε: F = 1/(2ε)·[ε 0] = [0.5 0]. Row 1 is zero: F = 0, not 0/0.
  Record r(Kind::LoRA, 1.0f);
  r.factor("down", tensor({1, 2}, {0, 0})).factor("up", tensor({2, 1}, {0, 0}));
  r.dora(tensor({2, 1}, {1, 3}), Axis::Output);
  std::vector<std::string> warnings;
  const std::vector<float> got =
      r.apply(tensor({2, 2}, {std::ldexp(1.0f, -23), 0, 0, 0}), 1.0f, &warnings);
  EXPECT_EQ(got, (std::vector<float>{0.5f, 0, 0, 0}));
  EXPECT_TRUE(warnings.empty());
}

void dora_lora_case(Axis axis, const Shape& wshape, const Tensor32& down, const Tensor32& up,
                    const Tensor32& mag, uint32_t seed) {
  Record r(Kind::LoRA, 0.5f);
  r.factor("down", down).factor("up", up).dora(mag, axis);
  const Tensor32 w = rnd(wshape, seed);
  Ref v = to_double(w.data);
  const Ref d = [&] {
    const uint64_t out = up.shape[0], rk = down.shape[0], cols = count(down.shape) / rk;
    return matmul(to_double(up.data), to_double(down.data), out, rk, cols);
  }();
  for (size_t i = 0; i < v.size(); ++i) v[i] += 0.5 * d[i];
  for (float s : {1.0f, 0.5f, -0.75f}) {
    const Ref want = dora_ref(w, v, mag, axis == Axis::Input, s);
    expect_close_scaled(r.apply(w, s), want, scale_of(w, want));
  }
  EXPECT_TRUE(bit_identical(r.apply(w, 0.0f), w.data));
}

TEST(RecordMathDora, LoraOutputAxis) {
  dora_lora_case(Axis::Output, {5, 6}, rnd({2, 6}, 91), rnd({5, 2}, 92), rnd({5, 1}, 93, 2.0f), 94);
}

TEST(RecordMathDora, LoraInputAxisConv) {
  // [1, in, 1, 1] magnitude, norm over dimension 0 and the spatial dimensions.
  dora_lora_case(Axis::Input, {4, 3, 3, 3}, rnd({2, 3, 3, 3}, 101), rnd({4, 2, 1, 1}, 102),
                 rnd({1, 3, 1, 1}, 103, 2.0f), 104);
}

TEST(RecordMathDora, LoraOutputAxisConv) {
  dora_lora_case(Axis::Output, {4, 3, 3, 3}, rnd({2, 3, 3, 3}, 111), rnd({4, 2, 1, 1}, 112),
                 rnd({4, 1, 1, 1}, 113, 2.0f), 114);
}

TEST(RecordMathDora, LohaInputAxis) {
  Record r(Kind::LoHa, 2.0f);
  r.factor("w1a", rnd({4, 2}, 121))
      .factor("w1b", rnd({2, 5}, 122))
      .factor("w2a", rnd({4, 2}, 123))
      .factor("w2b", rnd({2, 5}, 124))
      .dora(rnd({5}, 125), Axis::Input);
  const Tensor32 w = rnd({4, 5}, 126);
  const Ref d = hadamard(prod2(r.f("w1a"), r.f("w1b")), prod2(r.f("w2a"), r.f("w2b")));
  Ref v = to_double(w.data);
  for (size_t i = 0; i < v.size(); ++i) v[i] += 2.0 * d[i];
  const Ref want = dora_ref(w, v, r.rf.dora_scale.value(), true, 1.0);
  expect_close_scaled(r.apply(w, 1.0f), want, scale_of(w, want));
}

TEST(RecordMathDora, OftUsesTheFullResult) {
  // V = the OFT result F(W) (§8.6 step 1), not W + alpha·(F − W).
  Record r(Kind::OFT, 0.0f);
  r.factor("blocks", rnd({2, 3, 3}, 131, 0.3f)).dora(rnd({6}, 132), Axis::Output);
  const Tensor32 w = rnd({6, 4}, 133);
  const Ref v = oft_ref(w, r.f("blocks"), 0.0, nullptr);
  const Ref want = dora_ref(w, v, r.rf.dora_scale.value(), false, 0.6);
  expect_close_scaled(r.apply(w, 0.6f), want, scale_of(w, want));
}

TEST(RecordMathDora, RefusedOnNonLoraTypes) {
  Record r(Kind::Full, 1.0f);
  r.factor("diff", rnd({2, 2}, 1)).dora(rnd({2}, 2), Axis::Output);
  EXPECT_THROW(r.apply(rnd({2, 2}, 3), 1.0f), ValueError);
}

// ---- OFT ---------------------------------------------------------------------------------------

TEST(RecordMathOft, HandDerivedCayley2x2) {
  // B = [0 .5; 0 0] → Q = [0 .5; -.5 0], R = (I+Q)(I−Q)⁻¹ = [.6 .8; -.8 .6], F = Rᵀ·W.
  Record r(Kind::OFT, 0.0f);
  r.factor("blocks", tensor({1, 2, 2}, {0, 0.5f, 0, 0}));
  const std::vector<float> got = r.apply(tensor({2, 2}, {1, 2, 3, 4}), 1.0f);
  const std::vector<float> want = {-1.8f, -2.0f, 2.6f, 4.0f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 1e-6) << i;
}

TEST(RecordMathOft, HandDerivedConstraint) {
  // Same block with c = 0.1: ‖Q‖_F = √0.5, so q = 0.5·0.1/(√0.5 + 1e-8);
  // R = [(1−q²) 2q; −2q (1−q²)]/(1+q²).
  Record r(Kind::OFT, 0.1f);
  r.factor("blocks", tensor({1, 2, 2}, {0, 0.5f, 0, 0}));
  const double q = 0.5 * static_cast<double>(0.1f) / (std::sqrt(0.5) + 1e-8);
  const double cs = (1 - q * q) / (1 + q * q), sn = 2 * q / (1 + q * q);
  const std::vector<float> got = r.apply(tensor({2, 1}, {1, 0}), 1.0f);
  EXPECT_NEAR(got[0], cs, 1e-7);
  EXPECT_NEAR(got[1], sn, 1e-7);  // Rᵀ·e0 = first row of R = [cs, sn]
  // A constraint larger than the norm changes nothing.
  Record loose(Kind::OFT, 10.0f);
  loose.factor("blocks", tensor({1, 2, 2}, {0, 0.5f, 0, 0}));
  const std::vector<float> l = loose.apply(tensor({2, 1}, {1, 0}), 1.0f);
  EXPECT_NEAR(l[0], 0.6, 1e-7);
  EXPECT_NEAR(l[1], 0.8, 1e-7);
}

TEST(RecordMathOft, ConstraintUsesTheNormOverAllBlocks) {
  Record r(Kind::OFT, 0.4f);
  r.factor("blocks", rnd({3, 4, 4}, 141, 0.5f)).factor("rescale", rnd({12, 1}, 142));
  const Tensor32 w = rnd({12, 5}, 143);
  const Ref f = oft_ref(w, r.f("blocks"), 0.4, &r.f("rescale"));
  for (float s : {1.0f, 0.3f, -0.5f}) {
    const Ref want = interpolate_ref(w, f, s);
    expect_close_scaled(r.apply(w, s), want, scale_of(w, want));
  }
  // A per-block norm would give a different result: the reference with each block alone differs.
  Tensor32 one_block = r.f("blocks");
  one_block.shape = {1, 4, 4};
  one_block.data.resize(16);
  Tensor32 w0 = w;
  w0.shape = {4, 5};
  w0.data.resize(20);
  const Ref alone = oft_ref(w0, one_block, 0.4, nullptr);
  const Ref joint = oft_ref(w, r.f("blocks"), 0.4, nullptr);
  double diff = 0;
  for (size_t i = 0; i < alone.size(); ++i) diff = std::max(diff, std::fabs(alone[i] - joint[i]));
  EXPECT_GT(diff, 1e-3);
}

TEST(RecordMathOft, WideConvAcrossColumnTiles) {
  // More columns than one tile, unconstrained, rescale, conv target.
  Record r(Kind::OFT, 0.0f);
  r.factor("blocks", rnd({2, 4, 4}, 151, 0.4f)).factor("rescale", rnd({8, 1, 1, 1}, 152));
  const Tensor32 w = rnd({8, 30, 3, 3}, 153);
  const Ref f = oft_ref(w, r.f("blocks"), 0.0, &r.f("rescale"));
  expect_close_scaled(r.apply(w, 1.0f), f, scale_of(w, f));
  // s = 1 without rescale keeps row norms of each column group (R is orthogonal).
  Record plain(Kind::OFT, 0.0f);
  plain.factor("blocks", r.f("blocks"));
  const std::vector<float> out = plain.apply(w, 1.0f);
  for (uint64_t blk = 0; blk < 2; ++blk)
    for (uint64_t c = 0; c < 270; c += 37) {
      double n0 = 0, n1 = 0;
      for (uint64_t i = 0; i < 4; ++i) {
        n0 += std::pow(w.data[(blk * 4 + i) * 270 + c], 2);
        n1 += std::pow(out[(blk * 4 + i) * 270 + c], 2);
      }
      EXPECT_NEAR(n0, n1, 1e-5 * n0 + 1e-12);
    }
}

TEST(RecordMathOft, MismatchThrows) {
  Record r(Kind::OFT, 0.0f);
  r.factor("blocks", rnd({2, 3, 3}, 1));
  EXPECT_THROW(r.apply(rnd({8, 2}, 2), 1.0f), ValueError);
}

// ---- BOFT --------------------------------------------------------------------------------------

TEST(RecordMathBoft, HandDerivedPermutationOnFourRows) {
  // b = 2, 2 stages, 4 rows. Stage 0 (κ = 1) is the identity permutation; stage 1 (κ = 2) sends
  // rows 0,1,2,3 to positions 0,2,1,3, so its block 0 pairs rows 0 and 2, block 1 rows 1 and 3.
  // Only stage 1 block 0 rotates: R = [.6 .8; -.8 .6] (no transpose for BOFT).
  Record r(Kind::BOFT, 0.0f);
  std::vector<float> blocks(2 * 2 * 4, 0.0f);
  blocks[(1 * 2 + 0) * 4 + 1] = 0.5f;  // stage 1, block 0, element [0, 1]
  r.factor("blocks", tensor({2, 2, 2, 2}, blocks));
  const std::vector<float> got = r.apply(tensor({4, 1}, {1, 2, 3, 4}), 1.0f);
  // y0 = .6·1 + .8·3 = 3, y2 = −.8·1 + .6·3 = 1; rows 1 and 3 unchanged.
  EXPECT_NEAR(got[0], 3.0f, 1e-6);
  EXPECT_EQ(got[1], 2.0f);
  EXPECT_NEAR(got[2], 1.0f, 1e-6);
  EXPECT_EQ(got[3], 4.0f);
}

TEST(RecordMathBoft, MatchesPermutationMatrixReference) {
  // m = 3 stages of b = 2 on 8 rows.
  Record r(Kind::BOFT, 0.0f);
  r.factor("blocks", rnd({3, 4, 2, 2}, 161, 0.5f));
  const Tensor32 w = rnd({8, 7}, 162);
  const Ref f = boft_ref(w, r.f("blocks"), 0.0, nullptr);
  for (float s : {1.0f, 0.4f}) {
    const Ref want = interpolate_ref(w, f, s);
    expect_close_scaled(r.apply(w, s), want, scale_of(w, want));
  }
}

TEST(RecordMathBoft, ConstrainedRescaledWide) {
  // m = 2, b = 4, 16 rows; constraint over the whole 4-D tensor; rescale; 150 columns.
  Record r(Kind::BOFT, 0.8f);
  r.factor("blocks", rnd({2, 4, 4, 4}, 171, 0.5f)).factor("rescale", rnd({16, 1}, 172));
  const Tensor32 w = rnd({16, 150}, 173);
  const Ref f = boft_ref(w, r.f("blocks"), 0.8, &r.f("rescale"));
  const Ref want = interpolate_ref(w, f, 0.9);
  expect_close_scaled(r.apply(w, 0.9f), want, scale_of(w, want));
}

// ---- (IA)³, full, norm, set --------------------------------------------------------------------

TEST(RecordMathIa3, OutputAxis) {
  Record r(Kind::IA3, 1.0f);
  r.factor("weight", rnd({3}, 181)).factor("on_input", tensor({1}, {0}));
  const Tensor32 w = rnd({3, 4}, 182);
  Ref want(w.data.size()), mag(w.data.size());
  for (uint64_t o = 0; o < 3; ++o)
    for (uint64_t j = 0; j < 4; ++j) {
      const double x = w.data[o * 4 + j];
      want[o * 4 + j] = x + 1.5 * x * r.f("weight").data[o];
      mag[o * 4 + j] = std::fabs(x) * (1 + 1.5 * std::fabs(r.f("weight").data[o]));
    }
  expect_close(r.apply(w, 1.5f), want, mag);
  expect_linear(r, w);
}

TEST(RecordMathIa3, InputAxisConv) {
  // v stored as [1, in, 1, 1]; broadcast along the input channels.
  Record r(Kind::IA3, 1.0f);
  r.factor("weight", rnd({1, 3, 1, 1}, 191)).factor("on_input", tensor({1}, {1}));
  const Tensor32 w = rnd({2, 3, 2, 2}, 192);
  Ref want(w.data.size()), mag(w.data.size());
  for (uint64_t o = 0; o < 2; ++o)
    for (uint64_t i = 0; i < 3; ++i)
      for (uint64_t hw = 0; hw < 4; ++hw) {
        const uint64_t idx = (o * 3 + i) * 4 + hw;
        const double x = w.data[idx], v = r.f("weight").data[i];
        want[idx] = x - 0.5 * x * v;
        mag[idx] = std::fabs(x) * (1 + 0.5 * std::fabs(v));
      }
  expect_close(r.apply(w, -0.5f), want, mag);
  // Hand-derived: W = 2, v = 0.5, s = 1 → 3.
  Record h(Kind::IA3, 1.0f);
  h.factor("weight", tensor({1}, {0.5f})).factor("on_input", tensor({1}, {1}));
  EXPECT_EQ(h.apply(tensor({1, 1}, {2}), 1.0f), std::vector<float>{3});
}

TEST(RecordMathFull, DiffIgnoresAlphaScale) {
  Record r(Kind::Full, 5.0f);  // full deltas have no alpha (§9)
  r.factor("diff", rnd({3, 2, 1, 1}, 201));
  const Tensor32 w = rnd({3, 2}, 202);
  Ref want, mag;
  const Ref d = to_double(r.f("diff").data);
  Ref dm(d.size());
  for (size_t i = 0; i < d.size(); ++i) dm[i] = std::fabs(d[i]);
  additive(w, 0.5, d, dm, want, mag);
  expect_close(r.apply(w, 0.5f), want, mag, 4.0);
  expect_linear(r, w);
  // A diff_b-only record leaves the weight alone.
  Record bias_only(Kind::Full, 1.0f);
  bias_only.bias("diff_b", rnd({3}, 203));
  EXPECT_TRUE(bit_identical(bias_only.apply(w, 1.0f), w.data));
}

TEST(RecordMathFull, NormOnVectorAndExactShapeRule) {
  Record r(Kind::Norm, 1.0f);
  r.factor("w_norm", tensor({3}, {1, 2, 3}));
  EXPECT_EQ(r.apply(tensor({3}, {10, 10, 10}), 2.0f), (std::vector<float>{12, 14, 16}));
  // 1-D targets need the exact shape: [3, 1] against [3] is refused.
  Record bad(Kind::Norm, 1.0f);
  bad.factor("w_norm", tensor({3, 1}, {1, 2, 3}));
  EXPECT_THROW(bad.apply(tensor({3}, {0, 0, 0}), 1.0f), ValueError);
}

TEST(RecordMathSet, InterpolatesAndHitsTheValueAtOne) {
  Record r(Kind::Set, 1.0f);
  r.factor("set", tensor({4}, {1.0f, -2.0f, 1e-20f, 3.0f}));
  const Tensor32 w = tensor({4}, {1e8f, 5.0f, 7.0f, -0.0f});
  EXPECT_TRUE(bit_identical(r.apply(w, 1.0f), r.f("set").data));
  const std::vector<float> half = r.apply(w, 0.5f);
  const std::vector<float> want = {static_cast<float>(1e8 + 0.5 * (1.0 - 1e8)), 1.5f,
                                   static_cast<float>(7.0 + 0.5 * (1e-20 - 7.0)), 1.5f};
  EXPECT_EQ(half, want);
  EXPECT_EQ(r.apply(w, -1.0f), (std::vector<float>{static_cast<float>(2e8 - 1), 12, 14, -3}));
}

// ---- every type: s = 0 is bit-identical -------------------------------------------------------

TEST(RecordMathAllKinds, StrengthZeroIsBitIdentical) {
  Tensor32 w = rnd({4, 4}, 211);
  w.data[3] = std::numeric_limits<float>::quiet_NaN();
  w.data[7] = -0.0f;
  std::vector<std::function<void(Record&)>> makers = {
      [](Record& r) {
        r.factor("down", rnd({2, 4}, 1)).factor("up", rnd({4, 2}, 2));
      },
      [](Record& r) {
        r.factor("w1a", rnd({4, 2}, 1)).factor("w1b", rnd({2, 4}, 2));
        r.factor("w2a", rnd({4, 2}, 3)).factor("w2b", rnd({2, 4}, 4));
      },
      [](Record& r) {
        r.factor("w1", rnd({2, 2}, 1)).factor("w2", rnd({2, 2}, 2));
      },
      [](Record& r) {
        r.factor("a1", rnd({4, 2}, 1)).factor("a2", rnd({2, 4}, 2));
        r.factor("b1", rnd({4, 2}, 3)).factor("b2", rnd({2, 4}, 4));
      },
      [](Record& r) {
        r.factor("blocks", rnd({2, 2, 2}, 1));
      },
      [](Record& r) {
        r.factor("blocks", rnd({2, 2, 2, 2}, 1));
      },
      [](Record& r) { r.factor("weight", rnd({4}, 1)).factor("on_input", tensor({1}, {0})); },
      [](Record& r) {
        r.factor("diff", rnd({4, 4}, 1));
      },
      [](Record& r) {
        r.factor("w_norm", rnd({4, 4}, 1));
      },
      [](Record& r) {
        r.factor("set", rnd({4, 4}, 1));
      },
  };
  const Kind kinds[] = {Kind::LoRA, Kind::LoHa, Kind::LoKr, Kind::GLoRA, Kind::OFT,
                        Kind::BOFT, Kind::IA3,  Kind::Full, Kind::Norm,  Kind::Set};
  for (size_t i = 0; i < makers.size(); ++i) {
    Record r(kinds[i], 0.5f);
    makers[i](r);
    EXPECT_TRUE(bit_identical(r.apply(w, 0.0f), w.data)) << adapter::kind_name(kinds[i]);
    EXPECT_FALSE(bit_identical(r.apply(w, 1.0f), w.data)) << adapter::kind_name(kinds[i]);
    if (kinds[i] == Kind::LoRA || kinds[i] == Kind::LoHa || kinds[i] == Kind::OFT) {
      Record d(kinds[i], 0.5f);
      makers[i](d);
      d.dora(rnd({4}, 9), Axis::Output);
      EXPECT_TRUE(bit_identical(d.apply(w, 0.0f), w.data)) << adapter::kind_name(kinds[i]);
    }
  }
}

}  // namespace
}  // namespace lorakit::testing::record_math
