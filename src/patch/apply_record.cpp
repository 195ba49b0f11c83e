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
    case Kind::LoHa:
      return loha_add(rec, c, dst, shape);
    case Kind::LoKr:
      return lokr_add(rec, c, dst, shape);
    case Kind::GLoRA:
      return glora_add(rec, c, w, dst, shape);
    default:
      fail(rec, fmt::format("{} is not an additive LoRA-class type",
                            adapter::kind_name(rec.module->kind)));
  }
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
  const bool dora = rec.dora_scale.has_value();
  switch (m.kind) {
    case Kind::LoRA:
    case Kind::LoHa:
    case Kind::LoKr:
    case Kind::GLoRA:
      if (!dora) {
        add_delta(rec, s * gamma, w, w, shape);
      } else {
        // V = W + γ·ΔW (§8.6 step 1).
        std::vector<float> v(w.begin(), w.end());
        add_delta(rec, gamma, w, v, shape);
        dora_apply(rec, s, w, shape, v);
      }
      break;
    case Kind::OFT:
    case Kind::BOFT: {
      // alpha_scale is the constraint here; with DoRA, V is the full OFT/BOFT result.
      std::vector<float> f(w.size());
      oft_result(rec, w, shape, f);
      if (dora)
        dora_apply(rec, s, w, shape, f);
      else
        interpolate(w, f, s);
      break;
    }
    case Kind::IA3:
    case Kind::Full:
    case Kind::Norm:
    case Kind::Set:
      if (dora)
        fail(rec, fmt::format("a DoRA magnitude on a {} record", adapter::kind_name(m.kind)));
      if (m.kind == Kind::IA3) {
        ia3_apply(rec, s, w, shape);
      } else if (m.kind == Kind::Set) {
        // F(W) = V: W + s·(V − W) (§8.10).
        const Tensor32& v = need(rec, "set");
        if (delta_columns(rec, v.shape, shape) != geometry(shape).cols)
          fail(rec, fmt::format("set {} does not cover the target {}", shape_text(v.shape),
                                shape_text(shape)));
        interpolate(w, v.data, s);
      } else {
        full_add(rec, s, w, shape);  // no alpha for full and norm deltas
      }
      break;
  }
  const size_t bad_after = count_nonfinite(w);
  if (bad_after > bad_before)
    warnings.push_back(fmt::format("{}: {} non-finite values in the result", prefix_of(rec),
                                   bad_after - bad_before));
}

}  // namespace lorakit::patch::detail
