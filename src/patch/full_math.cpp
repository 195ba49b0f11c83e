// Full deltas (§8.10): `diff` and `w_norm` add s·D (no alpha); a record with only a bias part
// (`diff_b`) leaves the weight alone.
#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

void full_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape) {
  const std::string role = rec.module->kind == adapter::Kind::Norm ? "w_norm" : "diff";
  if (!find(rec, role)) return;
  const Tensor32& d = need(rec, role);
  const uint64_t cols = delta_columns(rec, d.shape, shape);
  add_placed(dst.data(), geometry(shape), d.data.data(), cols, c);
}

}  // namespace lorakit::patch::detail
