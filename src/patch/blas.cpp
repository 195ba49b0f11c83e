// The BLAS calls of the record math: row-major, one thread. Callers parallelise across tensors, so
// OpenBLAS must never split a product by thread count (results would then depend on it).
#include <cblas.h>
#include <fmt/format.h>

#include <climits>

#include "lorakit/error.hpp"
#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

void single_thread() {
  static const bool once = [] {
    openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

namespace {

blasint to_int(uint64_t v) {
  if (v > static_cast<uint64_t>(INT_MAX))
    throw ValueError(fmt::format("matrix dimension {} exceeds the BLAS integer range", v));
  return static_cast<blasint>(v);
}

// BLAS requires leading dimensions of at least 1 even for empty operands.
blasint ld(uint64_t v) { return to_int(v == 0 ? 1 : v); }

}  // namespace

void sgemm(bool trans_a, bool trans_b, uint64_t m, uint64_t n, uint64_t k, float alpha,
           const float* a, uint64_t lda, const float* b, uint64_t ldb, float beta, float* c,
           uint64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0 && beta == 1.0f) return;
  single_thread();
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, to_int(m), to_int(n), to_int(k), alpha, a,
              ld(lda), b, ld(ldb), beta, c, ld(ldc));
}

void dgemm(bool trans_a, bool trans_b, uint64_t m, uint64_t n, uint64_t k, double alpha,
           const double* a, uint64_t lda, const double* b, uint64_t ldb, double beta, double* c,
           uint64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0 && beta == 1.0) return;
  single_thread();
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, to_int(m), to_int(n), to_int(k), alpha, a,
              ld(lda), b, ld(ldb), beta, c, ld(ldc));
}

}  // namespace lorakit::patch::detail
