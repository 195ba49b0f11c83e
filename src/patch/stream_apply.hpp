// The streaming (row-tiled) path of patch::apply; see stream_apply.cpp.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lorakit/patch.hpp"

namespace lorakit::patch::detail {

// A unit of one weight whose steps are all plain LoRA products on its own rows (no bias, scale,
// transform, padding, DoRA or Tucker).
bool streamable(const Plan& plan, const Unit& unit, const io::TensorSource& base);

// Computes such a unit tile by tile into `out_type`; nullopt when the tensor's rows cannot be tiled
// in whole blocks of its type and `out_type` (the caller then takes the general path).
std::optional<TensorOut> stream_apply(const Plan& plan, const Unit& unit,
                                      const io::TensorSource& base, const Options& options,
                                      DType out_type, std::vector<std::string>& warnings);

// The general path of patch::apply (whole tensors in fp32), exposed so that tests can compare it
// with the streaming path.
UnitOut apply_general(const Plan& plan, const Unit& unit, const io::TensorSource& base,
                      const Options& options);

}  // namespace lorakit::patch::detail
