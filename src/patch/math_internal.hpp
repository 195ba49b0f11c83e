// Shared pieces of the per-record math (record_math.hpp): matrix views of decoded factors, the
// single-threaded BLAS wrappers, delta placement (§8.0) and the kernels of each adapter type. Every
// kernel works on the view's logical matrix [rows, cols] (rows = dim 0, cols = the product of the
// others) in row-major order.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "patch/record_math.hpp"

namespace lorakit::patch::detail {

using Shape = std::vector<uint64_t>;

uint64_t numel(std::span<const uint64_t> shape);

// A decoded factor read as flat2 (§1): [shape[0], numel/shape[0]]; a 1-D or scalar factor reads
// as [n, 1].
struct MatView {
  const float* data = nullptr;
  uint64_t rows = 0, cols = 0;
};
MatView flat2(const Tensor32& t);

// The view's logical matrix.
struct Geometry {
  uint64_t rows = 0, cols = 0;
};
Geometry geometry(std::span<const uint64_t> shape);

// ValueError "<prefix>: <why>".
[[noreturn]] void fail(const RecordFactors& rec, std::string_view why);
std::string prefix_of(const RecordFactors& rec);
std::string shape_text(std::span<const uint64_t> shape);

// A factor by role; ValueError naming the prefix and role when absent.
const Tensor32& need(const RecordFactors& rec, const std::string& role);
const Tensor32* find(const RecordFactors& rec, const std::string& role);

// Sets OpenBLAS to one thread on first use (every BLAS/LAPACK call of the record math goes through
// it first).
void single_thread();
// Row-major products through OpenBLAS, one thread (openblas_set_num_threads(1) on first use).
// C[m×n] = alpha·op(A)·op(B) + beta·C, op = transpose when the flag is set.
void sgemm(bool trans_a, bool trans_b, uint64_t m, uint64_t n, uint64_t k, float alpha,
           const float* a, uint64_t lda, const float* b, uint64_t ldb, float beta, float* c,
           uint64_t ldc);
void dgemm(bool trans_a, bool trans_b, uint64_t m, uint64_t n, uint64_t k, double alpha,
           const double* a, uint64_t lda, const double* b, uint64_t ldb, double beta, double* c,
           uint64_t ldc);

// out [cols, rows] = in [rows, cols]ᵀ.
std::vector<float> transposed(const float* in, uint64_t rows, uint64_t cols);

// How many columns of each view row a delta of `delta_shape` covers (§8.0): all of them when dim 0
// and the element count agree (1-D views: exact shape), fewer when the module pads the delta on
// the input-channel axis (the first delta-columns of each row of a [out, in, kh, kw] view).
// ValueError otherwise.
uint64_t delta_columns(const RecordFactors& rec, std::span<const uint64_t> delta_shape,
                       std::span<const uint64_t> shape);

// dst[o, j] += c·delta[o, j] for j < delta_cols (delta row stride delta_cols, dst row stride cols).
void add_placed(float* dst, Geometry g, const float* delta, uint64_t delta_cols, float c);

// Tucker contraction (§8.2, §8.3): D[o,i,h,w] = Σ_{p,q} bt[o,p]·M[p,q,h,w]·a[q,i], bt [out, p],
// a [q, in]; returns D row-major [out, in·kh·kw].
std::vector<float> tucker(const RecordFactors& rec, const float* bt, uint64_t out, uint64_t p,
                          const Tensor32& mid, const float* a, uint64_t q, uint64_t in);

// ---- Kernels -----------------------------------------------------------------------------------
// dst[r, 0:cols] += c·B[row_begin + r, :]·A[:, 0:cols] for r < rows (row stride ldc), computed in
// blocks of kLoraRowBlock rows on a grid from B's row 0; row_begin must lie on that grid.
inline constexpr uint64_t kLoraRowBlock = 64;
void lora_product_rows(const MatView& b, const MatView& a, float c, uint64_t row_begin,
                       uint64_t rows, uint64_t cols, float* dst, uint64_t ldc);

// Additive types: dst += c·ΔW, ΔW placed per §8.0. `w` is the running value (GLoRA reads it); dst
// may be `w` itself.
void lora_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape);
void loha_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape);
void lokr_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape);
void glora_add(const RecordFactors& rec, float c, std::span<const float> w, std::span<float> dst,
               std::span<const uint64_t> shape);
void full_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape);

// OFT (§8.7) / BOFT (§8.8): f = F(W), rescale included.
void oft_result(const RecordFactors& rec, std::span<const float> w, std::span<const uint64_t> shape,
                std::span<float> f);

// DoRA (§8.6): given V, w ← w + s·(m/(‖V‖+ε)·V − w) along the module's axis.
void dora_apply(const RecordFactors& rec, float s, std::span<float> w,
                std::span<const uint64_t> shape, std::span<const float> v);

// (IA)³ (§8.9): w ← w + s·(w ⊙ v).
void ia3_apply(const RecordFactors& rec, float s, std::span<float> w,
               std::span<const uint64_t> shape);

// W + s·(F − W) evaluated as (1 − s)·W + s·F in double, to be rounded once to fp32: s = 1 gives F
// exactly for finite W (W + (F − W) can lose a tiny F next to a large W), and the double error is
// far below fp32's.
inline double blend(double w, double f, double s) { return (1.0 - s) * w + s * f; }
// w ← blend(w, f, s) element-wise.
void interpolate(std::span<float> w, std::span<const float> f, float s);

}  // namespace lorakit::patch::detail
