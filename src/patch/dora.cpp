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
  std::vector<double> ss(n, 0.0);
  for (uint64_t o = 0; o < g.rows; ++o)
    for (uint64_t j = 0; j < g.cols; ++j) {
      const double x = v[o * g.cols + j];
      ss[input ? j / sp : o] += x * x;
    }
  constexpr double kEps = 1.0 / 8388608.0;  // 2⁻²³
  std::vector<double> scale(n);
  for (uint64_t i = 0; i < n; ++i) scale[i] = m.data[i] / (std::sqrt(ss[i]) + kEps);
  const double sd = s;
  for (uint64_t o = 0; o < g.rows; ++o)
    for (uint64_t j = 0; j < g.cols; ++j) {
      const uint64_t idx = o * g.cols + j;
      const float fw = static_cast<float>(scale[input ? j / sp : o] * v[idx]);
      w[idx] = static_cast<float>(blend(w[idx], fw, sd));
    }
}

}  // namespace lorakit::patch::detail
