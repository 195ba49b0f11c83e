// (IA)³ (§8.9): F(W) = W ⊙ (1 + v), v along the output axis (on_input = 0) or the input axis
// (on_input = 1); W′ = W + s·(W ⊙ v).
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

void ia3_apply(const RecordFactors& rec, float s, std::span<float> w,
               std::span<const uint64_t> shape) {
  const Tensor32& v = need(rec, "weight");
  const Tensor32& on = need(rec, "on_input");
  if (on.data.size() != 1) fail(rec, "on_input must hold one value");
  const bool on_input = on.data[0] != 0.0f;
  const Geometry g = geometry(shape);
  if (!on_input) {
    if (v.data.size() != g.rows)
      fail(rec, fmt::format("(IA)3 vector of {} values on {} output rows", v.data.size(), g.rows));
    for (uint64_t o = 0; o < g.rows; ++o) {
      const float x = v.data[o];
      float* row = w.data() + o * g.cols;
      for (uint64_t j = 0; j < g.cols; ++j) row[j] += s * (row[j] * x);
    }
    return;
  }
  const uint64_t in = shape.size() >= 2 ? shape[1] : 0;
  if (in == 0 || v.data.size() != in)
    fail(rec, fmt::format("(IA)3 vector of {} values on the input axis of {}", v.data.size(),
                          shape_text(shape)));
  const uint64_t sp = g.cols / in;
  for (uint64_t o = 0; o < g.rows; ++o)
    for (uint64_t i = 0; i < in; ++i) {
      const float x = v.data[i];
      float* p = w.data() + o * g.cols + i * sp;
      for (uint64_t hw = 0; hw < sp; ++hw) p[hw] += s * (p[hw] * x);
    }
}

}  // namespace lorakit::patch::detail
