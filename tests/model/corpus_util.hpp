// Reading the shared corpus of real key lists (../shared/corpus, see its INDEX.md) into TensorMeta,
// so that model and adapter tests can run detection and binding on real layouts without the
// weights.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "lorakit/model.hpp"

namespace lorakit::testing {

// A "-1" dimension in a corpus list (the arenasys LoRA tables' rank placeholder).
inline constexpr uint64_t kAnyDim = std::numeric_limits<uint64_t>::max();

// ../shared/corpus/<name>.
std::filesystem::path corpus_path(const std::string& name);

// One `name<TAB>shape` line per tensor. `[a, b]` is a shape, `[]` a scalar; `?` (no shape recorded)
// gives an empty shape and counts in `unknown_shapes`. Every dtype is F32 (the lists carry none).
struct KeyList {
  std::vector<model::TensorMeta> tensors;
  size_t unknown_shapes = 0;
};
KeyList read_key_list(const std::filesystem::path& p);
// read_key_list(corpus_path(name)).tensors
std::vector<model::TensorMeta> corpus_tensors(const std::string& name);

// A corpus mapping: two tab-separated columns, no header.
std::vector<std::pair<std::string, std::string>> read_mapping(const std::filesystem::path& p);

// ModelIndex of a corpus list, named "corpus:<name>".
model::ModelIndex corpus_model(const std::string& name);

}  // namespace lorakit::testing
