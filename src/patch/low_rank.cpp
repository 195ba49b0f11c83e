// The runtime (sidecar) form of a plain LoRA record: A and s·γ·B, whose product is exactly what
// apply_record adds (up to the order of fp32 rounding).
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

bool is_low_rank(const RecordFactors& rec) {
  if (!rec.module || rec.module->kind != adapter::Kind::LoRA) return false;
  if (rec.module->pad_input_channels || rec.module->dora_scale || rec.dora_scale) return false;
  return rec.factors.count("down") && rec.factors.count("up") && !rec.factors.count("mid");
}

void low_rank_factors(const RecordFactors& rec, float s, std::vector<float>& a,
                      std::vector<float>& b_scaled, uint64_t& rank) {
  if (!is_low_rank(rec)) fail(rec, "not a plain LoRA record");
  const MatView down = flat2(need(rec, "down"));
  const MatView up = flat2(need(rec, "up"));
  if (up.cols != down.rows)
    fail(rec, fmt::format("lora up [{}, {}] does not fit down [{}, {}]", up.rows, up.cols,
                          down.rows, down.cols));
  rank = down.rows;
  a.assign(down.data, down.data + down.rows * down.cols);
  const float c = s * rec.module->alpha_scale;
  b_scaled.resize(up.rows * up.cols);
  for (size_t i = 0; i < b_scaled.size(); ++i) b_scaled[i] = c * up.data[i];
}

}  // namespace lorakit::patch::detail
