// Planning a conversion: every output tensor as a list of byte pieces taken from the adapter file
// (whole tensors, row ranges, column ranges of rows), zero fill, or a few new scalar bytes. The
// plan is built completely, and every refusal collected, before anything is written; writing is
// then a copy that cannot change a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "adapter/model_view.hpp"
#include "lorakit/adapter.hpp"

namespace lorakit::adapter::detail {

// `count` rows of output, each `lead` zero bytes, then `len` bytes of `key` from `offset` (plus
// `stride` per row), then `trail` zero bytes. A plain copy is one row with no zeros; a zero gap has
// no key. Rows of this shape are all that splitting and fusing need (§7.2, §7.3).
struct Piece {
  std::string key;  // empty: zeros only (len must then be 0)
  uint64_t offset = 0, len = 0, stride = 0, count = 1, lead = 0, trail = 0;
  std::vector<std::byte> bytes;  // when not empty: these bytes instead of everything above
  uint64_t size() const { return bytes.empty() ? count * (lead + len + trail) : bytes.size(); }
};

struct OutTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  std::vector<Piece> pieces;  // concatenated in order
  // A 2-D source written transposed (§7.5); pieces are unused then.
  std::string transpose_of;
};

struct Plan {
  std::vector<OutTensor> tensors;
  std::vector<std::string> refusals;  // "<prefix>: <reason>", one per record that cannot convert
};

Plan plan_conversion(const Adapter& a, const ModelView& m, TargetFamily to);

}  // namespace lorakit::adapter::detail
