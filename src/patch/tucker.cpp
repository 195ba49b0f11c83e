// The Tucker contraction shared by LoRA `lora_mid` (§8.2), LoHa `hada_t1/t2` (§8.3) and LoKr
// `lokr_t2` (§8.4): a 1×1 conv by a, the k×k conv by M, a 1×1 conv by bt.
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

std::vector<float> tucker(const RecordFactors& rec, const float* bt, uint64_t out, uint64_t p,
                          const Tensor32& mid, const float* a, uint64_t q, uint64_t in) {
  if (mid.shape.size() != 4 || mid.shape[0] != p || mid.shape[1] != q ||
      mid.data.size() != numel(mid.shape))
    fail(rec,
         fmt::format("Tucker core {} does not fit ranks {} and {}", shape_text(mid.shape), p, q));
  const uint64_t sp = mid.shape[2] * mid.shape[3];
  // G[o, q·sp + hw] = Σ_p bt[o,p]·M[p, q, hw]
  std::vector<float> g(out * q * sp);
  sgemm(false, false, out, q * sp, p, 1.0f, bt, p, mid.data.data(), q * sp, 0.0f, g.data(), q * sp);
  if (sp == 1) {
    std::vector<float> d(out * in);
    sgemm(false, false, out, in, q, 1.0f, g.data(), q, a, in, 0.0f, d.data(), in);
    return d;
  }
  // Gp[(o, hw), q] so that one product contracts q for every (o, hw): Dp[(o, hw), i].
  std::vector<float> gp(out * sp * q);
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t r = 0; r < q; ++r)
      for (uint64_t hw = 0; hw < sp; ++hw) gp[(o * sp + hw) * q + r] = g[o * q * sp + r * sp + hw];
  std::vector<float> dp(out * sp * in);
  sgemm(false, false, out * sp, in, q, 1.0f, gp.data(), q, a, in, 0.0f, dp.data(), in);
  std::vector<float> d(out * in * sp);
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t hw = 0; hw < sp; ++hw)
      for (uint64_t i = 0; i < in; ++i) d[o * in * sp + i * sp + hw] = dp[(o * sp + hw) * in + i];
  return d;
}

}  // namespace lorakit::patch::detail
