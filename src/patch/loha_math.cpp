// LoHa (§8.3): ΔW = (w1a·w1b) ⊙ (w2a·w2b); in the Tucker form (hada_t1/t2) each side is the Tucker
// contraction with w_a [r, out] transposed relative to the plain form.
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

namespace {

// One Tucker side: R[p,q,h,w] = Σ_{a,b} t[a,b,h,w]·wb[b,q]·wa[a,p], wa [r, out], wb [r, in].
std::vector<float> tucker_side(const RecordFactors& rec, const Tensor32& wa, const Tensor32& wb,
                               const Tensor32& t, uint64_t& out, uint64_t& in) {
  const MatView a = flat2(wa), b = flat2(wb);
  out = a.cols;
  in = b.cols;
  const std::vector<float> bt = transposed(a.data, a.rows, a.cols);  // [out, r]
  return tucker(rec, bt.data(), a.cols, a.rows, t, b.data, b.rows, b.cols);
}

// One plain side: wa [out, r] · wb [r, cols].
std::vector<float> plain_side(const RecordFactors& rec, const Tensor32& wa, const Tensor32& wb,
                              uint64_t& out, uint64_t& cols) {
  const MatView a = flat2(wa), b = flat2(wb);
  if (wa.shape.size() != 2 || a.cols != b.rows)
    fail(rec, fmt::format("hada factors {} and {} do not fit", shape_text(wa.shape),
                          shape_text(wb.shape)));
  out = a.rows;
  cols = b.cols;
  std::vector<float> p(out * cols);
  sgemm(false, false, out, cols, a.cols, 1.0f, a.data, a.cols, b.data, b.cols, 0.0f, p.data(),
        cols);
  return p;
}

}  // namespace

void loha_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape) {
  const Tensor32 &w1a = need(rec, "w1a"), &w1b = need(rec, "w1b");
  const Tensor32 &w2a = need(rec, "w2a"), &w2b = need(rec, "w2b");
  const Tensor32 *t1 = find(rec, "t1"), *t2 = find(rec, "t2");
  std::vector<float> p1, p2;
  Shape ds;
  if (t1 || t2) {
    if (!t1 || !t2) fail(rec, "hada_t1 and hada_t2 must come together");
    need(rec, "t1");
    need(rec, "t2");
    uint64_t out1 = 0, in1 = 0, out2 = 0, in2 = 0;
    p1 = tucker_side(rec, w1a, w1b, *t1, out1, in1);
    p2 = tucker_side(rec, w2a, w2b, *t2, out2, in2);
    if (out1 != out2 || in1 != in2 || t1->shape[2] != t2->shape[2] || t1->shape[3] != t2->shape[3])
      fail(rec, "hada Tucker sides have different shapes");
    ds = {out1, in1, t1->shape[2], t1->shape[3]};
  } else {
    uint64_t out1 = 0, cols1 = 0, out2 = 0, cols2 = 0;
    p1 = plain_side(rec, w1a, w1b, out1, cols1);
    p2 = plain_side(rec, w2a, w2b, out2, cols2);
    if (out1 != out2 || cols1 != cols2) fail(rec, "hada sides have different shapes");
    ds = {out1, cols1};
  }
  for (size_t i = 0; i < p1.size(); ++i) p1[i] *= p2[i];
  const uint64_t cols = delta_columns(rec, ds, shape);
  add_placed(dst.data(), geometry(shape), p1.data(), cols, c);
}

}  // namespace lorakit::patch::detail
