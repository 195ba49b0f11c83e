// Bias parts of a record (§8.10, §8.11): diff_b / b_norm add s·D; PEFT lora_B.bias adds s·γ·β;
// lora_A.bias a adds s·γ·(B·a), because the layer computes B·(A·x + a).
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

void apply_bias(const RecordFactors& rec, float s, std::span<float> bias) {
  if (s == 0.0f || rec.bias.empty()) return;
  const float gamma = rec.module ? rec.module->alpha_scale : 1.0f;
  for (const auto& [role, t] : rec.bias) {
    if (t.data.size() != numel(t.shape))
      fail(rec, fmt::format("bias part '{}' holds {} values for shape {}", role, t.data.size(),
                            shape_text(t.shape)));
    if (role == "diff_b" || role == "b_norm" || role == "lora_B.bias") {
      if (t.data.size() != bias.size())
        fail(rec, fmt::format("bias part '{}' {} does not fit a bias of {} rows", role,
                              shape_text(t.shape), bias.size()));
      const float c = role == "lora_B.bias" ? s * gamma : s;
      for (size_t i = 0; i < bias.size(); ++i) bias[i] += c * t.data[i];
    } else if (role == "lora_A.bias") {
      const MatView b = flat2(need(rec, "up"));
      if (b.rows != bias.size() || b.cols != t.data.size())
        fail(rec, fmt::format("lora_A.bias {} with up [{}, {}] does not fit a bias of {} rows",
                              shape_text(t.shape), b.rows, b.cols, bias.size()));
      const float c = s * gamma;
      for (uint64_t o = 0; o < b.rows; ++o) {
        double acc = 0;  // B·a, accumulated in double in rank order
        for (uint64_t r = 0; r < b.cols; ++r)
          acc += static_cast<double>(b.data[o * b.cols + r]) * t.data[r];
        bias[o] += c * static_cast<float>(acc);
      }
    } else {
      fail(rec, fmt::format("unknown bias part '{}'", role));
    }
  }
}

}  // namespace lorakit::patch::detail
