// The fp32 half of patching a unit: decode the pristine tensors, run every step on its view (rows of
// one tensor or several tensors concatenated along dim 0, in the record's own frame), and hand back
// the exact fp32 results for rounding (apply.cpp) or for the runtime form (runtime.cpp).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lorakit/patch.hpp"

namespace lorakit::patch::detail {

struct Buffer {
  const io::TensorInfo* info = nullptr;  // the pristine tensor
  std::vector<uint64_t> shape;           // current logical shape (grows with reshape_weight)
  std::vector<float> data;               // fp32 running value (scaled-fp8: already times the scale)
  float scale = 1.0f;                    // scaled-fp8 scale_weight of the source, 1 otherwise
  bool written = false;                  // some step changed it
};

// Decodes a pristine tensor to fp32 (times its scaled-fp8 scale when `scale` is given).
std::vector<float> decode_pristine(const io::TensorSource& base, const io::TensorInfo& info,
                                   float scale = 1.0f);
// The F32 scalar of a scaled-fp8 `scale_weight` tensor (FormatError when it is not one).
float read_scale(const io::TensorSource& base, const std::string& scale_tensor);

// Runs the unit's steps on fp32 copies of its tensors (weights and bias companions; scale tensors
// are read, not buffered). Keyed by tensor name.
std::map<std::string, Buffer> compute_unit(const Plan& plan, const Unit& unit,
                                           const io::TensorSource& base,
                                           std::vector<std::string>& warnings);

}  // namespace lorakit::patch::detail
