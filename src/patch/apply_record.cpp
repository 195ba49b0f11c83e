// apply_record: W ← W + s·(F(W) − W) for one record (§8.0, §10), dispatched by adapter type.
#include <fmt/format.h>

#include <cmath>

#include "lorakit/error.hpp"
#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

namespace {

using adapter::Kind;

size_t count_nonfinite(std::span<const float> w) {
  size_t n = 0;
  for (float x : w) n += !std::isfinite(x);
  return n;
}

// dst += c·ΔW for the additive LoRA-class types; ΔW of GLoRA is computed from w.
void add_delta(const RecordFactors& rec, float c, std::span<const float> w, std::span<float> dst,
               std::span<const uint64_t> shape) {
  switch (rec.module->kind) {
    case Kind::LoRA:
      return lora_add(rec, c, dst, shape);
    default:
      break;
  }
  throw UnsupportedError(fmt::format("{}: adapter type {} is not implemented yet", prefix_of(rec),
                                     adapter::kind_name(rec.module->kind)));
  (void)w;
}

}  // namespace

void apply_record(const RecordFactors& rec, float s, std::span<float> w,
                  std::span<const uint64_t> shape, std::vector<std::string>& warnings) {
  if (s == 0.0f) return;  // §10: bit-identical, for every type
  if (!rec.module) throw ValueError("apply_record: a record without its module");
  if (w.size() != numel(shape))
    fail(rec, fmt::format("target buffer of {} values for shape {}", w.size(), shape_text(shape)));
  const adapter::Module& m = *rec.module;
  const size_t bad_before = count_nonfinite(w);
  const float gamma = m.alpha_scale;
  switch (m.kind) {
    case Kind::LoRA:
      add_delta(rec, s * gamma, w, w, shape);
      break;
    default:
      throw UnsupportedError(fmt::format("{}: adapter type {} is not implemented yet",
                                         prefix_of(rec), adapter::kind_name(m.kind)));
  }
  const size_t bad_after = count_nonfinite(w);
  if (bad_after > bad_before)
    warnings.push_back(fmt::format("{}: {} non-finite values in the result", prefix_of(rec),
                                   bad_after - bad_before));
}

}  // namespace lorakit::patch::detail
