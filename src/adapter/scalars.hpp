// Reading the few small values the adapter layer needs while parsing (`.alpha`, `.on_input`,
// `.reshape_weight`); big factors are never decoded here.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::adapter::detail {

// True for dtypes that hold plain numbers (float or integer, not ggml blocks).
bool is_plain_number(DType t);

// Decodes all elements of a small tensor to float; nullopt (and `why`) when the dtype cannot be
// decoded or the tensor has more than `max_elements` elements.
std::optional<std::vector<float>> read_small(const io::TensorSource& src, const io::TensorInfo& t,
                                             size_t max_elements, std::string& why);

}  // namespace lorakit::adapter::detail
