// GLoRA (§8.5): ΔW depends on W. New layout: ΔW = (W·a1)·a2 + b1·b2 with the W products contracting
// the input-channel axis of a conv; old layout: ΔW = b2·b1 + (flat2(W)·a2)·a1.
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

void glora_add(const RecordFactors& rec, float c, std::span<const float> w, std::span<float> dst,
               std::span<const uint64_t> shape) {
  const MatView a1 = flat2(need(rec, "a1")), a2 = flat2(need(rec, "a2"));
  const MatView b1 = flat2(need(rec, "b1")), b2 = flat2(need(rec, "b2"));
  const Geometry g = geometry(shape);
  auto bad = [&]() {
    fail(rec, fmt::format("GLoRA factors a1 [{}, {}], a2 [{}, {}], b1 [{}, {}], b2 [{}, {}] do not "
                          "fit the target {}",
                          a1.rows, a1.cols, a2.rows, a2.cols, b1.rows, b1.cols, b2.rows, b2.cols,
                          shape_text(shape)));
  };
  std::vector<float> d(g.rows * g.cols);
  if (rec.module->glora_old) {
    // b2 [out, r], b1 [r, cols], a2 [cols, r], a1 [r, cols].
    if (b2.rows != g.rows || b2.cols != b1.rows || b1.cols != g.cols || a2.rows != g.cols ||
        a2.cols != a1.rows || a1.cols != g.cols)
      bad();
    std::vector<float> x(g.rows * a2.cols);
    sgemm(false, false, g.rows, a2.cols, g.cols, 1.0f, w.data(), g.cols, a2.data, a2.cols, 0.0f,
          x.data(), a2.cols);
    sgemm(false, false, g.rows, g.cols, a1.rows, 1.0f, x.data(), a1.rows, a1.data, a1.cols, 0.0f,
          d.data(), g.cols);
    sgemm(false, false, g.rows, g.cols, b2.cols, 1.0f, b2.data, b2.cols, b1.data, b1.cols, 1.0f,
          d.data(), g.cols);
  } else {
    // a1 [in, r], a2 [r, in], b1 [out, r], b2 [r, cols].
    if (shape.size() < 2) bad();
    const uint64_t in = shape[1];
    const uint64_t sp = in ? g.cols / in : 0;
    if (a1.rows != in || a2.cols != in || a1.cols != a2.rows || b1.rows != g.rows ||
        b1.cols != b2.rows || b2.cols != g.cols)
      bad();
    const uint64_t r = a1.cols;
    const uint64_t m = g.rows * sp;  // one row per (o, h, w)
    // Wp[(o, hw), i] = W[o, i, hw]; for a linear layer Wp is W itself.
    std::vector<float> wp;
    const float* wpp = w.data();
    if (sp != 1) {
      wp.resize(m * in);
      for (uint64_t o = 0; o < g.rows; ++o)
        for (uint64_t i = 0; i < in; ++i)
          for (uint64_t hw = 0; hw < sp; ++hw)
            wp[(o * sp + hw) * in + i] = w[o * g.cols + i * sp + hw];
      wpp = wp.data();
    }
    std::vector<float> x(m * r), y(m * in);
    sgemm(false, false, m, r, in, 1.0f, wpp, in, a1.data, r, 0.0f, x.data(), r);
    sgemm(false, false, m, in, r, 1.0f, x.data(), r, a2.data, in, 0.0f, y.data(), in);
    if (sp == 1) {
      d.swap(y);
    } else {
      for (uint64_t o = 0; o < g.rows; ++o)
        for (uint64_t i = 0; i < in; ++i)
          for (uint64_t hw = 0; hw < sp; ++hw)
            d[o * g.cols + i * sp + hw] = y[(o * sp + hw) * in + i];
    }
    sgemm(false, false, g.rows, g.cols, b1.cols, 1.0f, b1.data, b1.cols, b2.data, b2.cols, 1.0f,
          d.data(), g.cols);
  }
  add_placed(dst.data(), g, d.data(), g.cols, c);
}

}  // namespace lorakit::patch::detail
