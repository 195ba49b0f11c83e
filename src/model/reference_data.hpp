// The built-in reference layouts as generated tables (see scripts/gen_reference_layouts.cpp and
// data/layouts/). Only the generated reference_layouts_data.cpp defines reference_layouts().
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "lorakit/dtype.hpp"

namespace lorakit::model::detail {

struct RefTensor {
  const char* name;
  DType dtype;
  uint8_t rank;
  uint64_t shape[4];
};

struct RefLayout {
  std::string_view name;
  std::span<const RefTensor> tensors;
};

std::span<const RefLayout> reference_layouts();

}  // namespace lorakit::model::detail
