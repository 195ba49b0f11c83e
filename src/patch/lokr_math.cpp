// LoKr (§8.4): ΔW = w1 ⊗ w2 with either factor whole, factored (a·b) or, for w2, Tucker (t2).
// For a conv, w2 [o2, i2, kh, kw] read as [o2, i2·kh·kw] gives the same elements as the 4-D
// product: ΔW[a·o2 + b, (c·i2 + e)·kh·kw + hw] = w1[a,c]·w2[b,e,hw].
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

namespace {

struct Side {
  std::vector<float> own;  // the product when factored
  const float* data = nullptr;
  uint64_t rows = 0, cols = 0;
};

Side factored(const RecordFactors& rec, const std::string& a_role, const std::string& b_role) {
  const Tensor32 &ta = need(rec, a_role), &tb = need(rec, b_role);
  const MatView a = flat2(ta), b = flat2(tb);
  if (ta.shape.size() != 2 || a.cols != b.rows)
    fail(rec, fmt::format("lokr {} {} does not fit {} {}", a_role, shape_text(ta.shape), b_role,
                          shape_text(tb.shape)));
  Side s;
  s.rows = a.rows;
  s.cols = b.cols;
  s.own.resize(s.rows * s.cols);
  sgemm(false, false, s.rows, s.cols, a.cols, 1.0f, a.data, a.cols, b.data, b.cols, 0.0f,
        s.own.data(), s.cols);
  s.data = s.own.data();
  return s;
}

Side whole(const Tensor32& t) {
  const MatView m = flat2(t);
  Side s;
  s.data = m.data;
  s.rows = m.rows;
  s.cols = m.cols;
  return s;
}

}  // namespace

void lokr_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape) {
  const Side w1 = find(rec, "w1") ? whole(need(rec, "w1")) : factored(rec, "w1a", "w1b");
  Side w2;
  if (find(rec, "w2")) {
    w2 = whole(need(rec, "w2"));
  } else if (const Tensor32* t2 = find(rec, "t2")) {
    // w2[p,q,h,w] = Σ_{a,b} t2[a,b,h,w]·w2_b[b,q]·w2_a[a,p]: w2_a [r, o2], w2_b [r, i2].
    need(rec, "t2");
    const MatView a = flat2(need(rec, "w2a")), b = flat2(need(rec, "w2b"));
    const std::vector<float> bt = transposed(a.data, a.rows, a.cols);
    w2.own = tucker(rec, bt.data(), a.cols, a.rows, *t2, b.data, b.rows, b.cols);
    w2.data = w2.own.data();
    w2.rows = a.cols;
    w2.cols = b.cols * t2->shape[2] * t2->shape[3];
  } else {
    w2 = factored(rec, "w2a", "w2b");
  }
  const uint64_t rows = w1.rows * w2.rows, cols = w1.cols * w2.cols;
  std::vector<float> d(rows * cols);
  for (uint64_t a = 0; a < w1.rows; ++a)
    for (uint64_t b = 0; b < w2.rows; ++b) {
      float* row = d.data() + (a * w2.rows + b) * cols;
      const float* r2 = w2.data + b * w2.cols;
      for (uint64_t k = 0; k < w1.cols; ++k) {
        const float x = w1.data[a * w1.cols + k];
        for (uint64_t e = 0; e < w2.cols; ++e) row[k * w2.cols + e] = x * r2[e];
      }
    }
  const Shape ds = {rows, cols};
  const uint64_t placed = delta_columns(rec, ds, shape);
  add_placed(dst.data(), geometry(shape), d.data(), placed, c);
}

}  // namespace lorakit::patch::detail
