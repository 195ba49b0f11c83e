// The canonical safetensors layout (file-formats.md §1.6): which tensor goes where, and the exact
// header bytes. A pure function of the declarations, so that the same inputs give the same file
// everywhere.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::io {

struct PlannedTensor {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  uint64_t begin = 0, end = 0;  // data_offsets
};

struct SafetensorsLayout {
  std::string prefix;                  // the 8-byte length N, the header JSON, space padding
  std::vector<PlannedTensor> tensors;  // offset order
  uint64_t data_size = 0;
  uint64_t data_start() const { return prefix.size(); }
  uint64_t file_size() const { return prefix.size() + data_size; }
};

// Orders the tensors (dtype descending in §1.2 order, then name byte-wise), packs them from offset
// 0 and renders the header: compact JSON, `__metadata__` first with keys sorted, serde_json
// escaping, spaces up to a multiple of 8. `metadata` nullopt means {"format":"pt"}; an empty map
// writes no
// `__metadata__`. Throws InvalidArgument (`dest` names the output) for a duplicate or reserved
// name, a dtype safetensors cannot hold, a shape whose size overflows or is not a whole number of
// bytes, or text that is not UTF-8; FormatError(dest, "header_too_large") when the padded header
// exceeds 100,000,000 bytes.
SafetensorsLayout plan_safetensors(
    const std::string& dest, const std::vector<TensorDecl>& tensors,
    const std::optional<std::map<std::string, std::string>>& metadata);

}  // namespace lorakit::io
