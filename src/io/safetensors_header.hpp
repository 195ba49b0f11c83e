// Validation of one safetensors file's bytes (file-formats.md §1.3, §1.4): the length prefix, the
// JSON header, the tensor table and the coverage of the data section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "lorakit/io.hpp"

namespace lorakit::io {

// The reference's limit on the header length N (N itself passes).
inline constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

struct SafetensorsHeader {
  uint64_t header_len = 0;              // N
  uint64_t data_start = 0;              // 8 + N
  std::vector<TensorInfo> tensors;      // data order: by (begin, end), ties in JSON order
  std::vector<MetadataEntry> metadata;  // `__metadata__` in file order, every value a STRING
};

// Validates the whole file and describes its tensors (file_offset absolute, file_index 0). Throws
// FormatError(path, error_class, message) with the error classes of testdata/safetensors/README.md.
SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& path);

}  // namespace lorakit::io
