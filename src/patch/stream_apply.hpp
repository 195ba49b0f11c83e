// The streaming (row-tiled) path of patch::apply; see stream_apply.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/patch.hpp"

namespace lorakit::patch::detail {

// The fp8 output types and their largest finite magnitudes (both apply paths count saturation).
inline bool is_fp8(DType t) { return t == DType::F8_E4M3 || t == DType::F8_E5M2; }
inline double fp8_max(DType t) { return t == DType::F8_E4M3 ? 448.0 : 57344.0; }
// Values whose magnitude exceeds `max`.
inline uint64_t count_beyond(const float* v, uint64_t n, double max) {
  uint64_t count = 0;
  for (uint64_t i = 0; i < n; ++i) count += std::fabs(static_cast<double>(v[i])) > max ? 1 : 0;
  return count;
}

// A unit of one weight whose steps are all plain LoRA products on its own rows (no bias, scale,
// transform, padding, DoRA or Tucker).
bool streamable(const Plan& plan, const Unit& unit, const io::TensorSource& base);

// Computes such a unit tile by tile into `out_type`; nullopt when the tensor's rows cannot be tiled
// in whole blocks of its type and `out_type` (the caller then takes the general path).
std::optional<TensorOut> stream_apply(const Plan& plan, const Unit& unit,
                                      const io::TensorSource& base, const Options& options,
                                      DType out_type, std::vector<std::string>& warnings,
                                      BufferPool* buffers = nullptr);

// The general path of patch::apply (whole tensors in fp32), exposed so that tests can compare it
// with the streaming path.
UnitOut apply_general(const Plan& plan, const Unit& unit, const io::TensorSource& base,
                      const Options& options, BufferPool* buffers = nullptr);

}  // namespace lorakit::patch::detail
