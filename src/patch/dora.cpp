// DoRA (§8.6): F(W) = m/(‖V‖ + ε) ⊙ V along the module's axis, ε = 2⁻²³; W′ = W + s·(F(W) − W).
// Norms are accumulated in double in index order; F(W) is rounded to fp32 and blended with W in
// double (blend), so s = 1 gives the fp32 F(W) exactly.
#include <fmt/format.h>

#include <cmath>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

void dora_apply(const RecordFactors& rec, float s, std::span<float> w,
                std::span<const uint64_t> shape, std::span<const float> v) {
  if (!rec.dora_scale) fail(rec, "DoRA without a magnitude");
  const Tensor32& m = *rec.dora_scale;
  const Geometry g = geometry(shape);
  const bool input = rec.module->dora_axis == adapter::Module::DoraAxis::Input;
  if (rec.module->dora_axis == adapter::Module::DoraAxis::None)
    fail(rec, "DoRA magnitude without an axis");
  const uint64_t in = shape.size() >= 2 ? shape[1] : 0;
  if (input && in == 0) fail(rec, "input-axis DoRA on a target without an input axis");
  const uint64_t n = input ? in : g.rows;
  const uint64_t sp = input ? g.cols / in : 0;
  if (m.data.size() != n)
    fail(rec, fmt::format("magnitude {} does not fit the {} axis of {}", shape_text(m.shape),
                          input ? "input" : "output", shape_text(shape)));
  // Element (o, j) belongs to output row o or to input channel j / sp.
  std::vector<double> ss(n, 0.0);
  for (uint64_t o = 0; o < g.rows; ++o) {
    const float* row = v.data() + o * g.cols;
    if (input) {
      for (uint64_t i = 0; i < in; ++i)
        for (uint64_t hw = 0; hw < sp; ++hw) {
          const double x = row[i * sp + hw];
          ss[i] += x * x;
        }
    } else {
      double acc = 0;
      for (uint64_t j = 0; j < g.cols; ++j) {
        const double x = row[j];
        acc += x * x;
      }
      ss[o] = acc;
    }
  }
  constexpr double kEps = 1.0 / 8388608.0;  // 2⁻²³
  std::vector<double> scale(n);
  for (uint64_t i = 0; i < n; ++i) scale[i] = m.data[i] / (std::sqrt(ss[i]) + kEps);
  std::vector<double> col_scale(input ? g.cols : 0);
  for (uint64_t j = 0; j < col_scale.size(); ++j) col_scale[j] = scale[j / sp];
  const double sd = s;
  for (uint64_t o = 0; o < g.rows; ++o) {
    const float* vr = v.data() + o * g.cols;
    float* wr = w.data() + o * g.cols;
    for (uint64_t j = 0; j < g.cols; ++j) {
      const double k = input ? col_scale[j] : scale[o];
      const float fw = static_cast<float>(k * vr[j]);
      wr[j] = static_cast<float>(blend(wr[j], fw, sd));
    }
  }
}

}  // namespace lorakit::patch::detail
