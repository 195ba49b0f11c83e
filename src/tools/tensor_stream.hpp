// Walks a tensor in chunks of whole rows, decoded to fp32, so that a tool can process tensors of any size
// with bounded memory. Shared by quantize and diff.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::tools {

// Elements per chunk for a tensor whose chunks must be whole multiples of `granule` elements (e.g. the
// lcm of the input block and the output row). Aims at about `target` elements.
uint64_t chunk_elements(uint64_t total, uint64_t granule, uint64_t target = uint64_t{1} << 22);

// Decodes view's elements [begin, begin+n) to fp32 (`begin` and `n` whole blocks of its dtype), using
// the thread pool.
void decode_range(const io::TensorView& view, uint64_t begin, uint64_t n, float* out);

}  // namespace lorakit::tools
