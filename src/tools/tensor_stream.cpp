#include "tools/tensor_stream.hpp"

#include <algorithm>

#include "lorakit/codec.hpp"

namespace lorakit::tools {

uint64_t chunk_elements(uint64_t total, uint64_t granule, uint64_t target) {
  if (granule == 0) granule = 1;
  uint64_t n = std::max<uint64_t>(1, target / granule) * granule;
  return std::min(n, std::max(total, granule));
}

void decode_range(const io::TensorView& view, uint64_t begin, uint64_t n, float* out) {
  const auto& tr = traits(view.info->dtype);
  const uint64_t block = tr.block_elements;
  const uint64_t byte_begin = begin / block * tr.block_bytes;
  // Split into "rows" of a fixed number of blocks so the codec can spread them over threads.
  uint64_t blocks = n / block;
  uint64_t blocks_per_row = std::max<uint64_t>(1, std::min<uint64_t>(blocks, 65536 / block + 1));
  while (blocks % blocks_per_row != 0) --blocks_per_row;
  codec::decode_rows(view.info->dtype, view.bytes.data() + byte_begin, out,
                     static_cast<size_t>(blocks / blocks_per_row),
                     static_cast<size_t>(blocks_per_row * block));
}

}  // namespace lorakit::tools
