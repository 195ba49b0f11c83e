// Sharded safetensors checkpoints: a `*.safetensors.index.json` whose "weight_map" maps every
// tensor name to the shard file (beside the index) that holds it. Each shard is validated as a
// safetensors file of its own (file-formats.md §1.4) and the map must agree with the shards
// exactly.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "io/multi_file_source.hpp"

namespace lorakit::io {

// Largest index or model_index.json read (real ones are well under a megabyte).
inline constexpr uint64_t kMaxIndexFileBytes = 100'000'000;

// Appends the shards named by `index` to `parts`, in file-name order, tensor names prefixed with
// `prefix`. Throws FormatError with the index as file and category
//   "bad_index"      the index is not {"weight_map": {name: shard file, ...}, ...},
//   "missing_shard"  a shard file does not exist,
//   "index_mismatch" a mapped name is missing from its shard, or a shard holds a name the map does
//                    not assign to it,
// or the shard's own FormatError (with the shard as file), or IoError.
void add_sharded_safetensors(SourceParts& parts, const std::string& index, std::string_view prefix);

std::unique_ptr<TensorSource> open_sharded_safetensors(const std::string& index);

}  // namespace lorakit::io
