// Name lookups over a checkpoint's sorted tensor list, used by detection and by the name maps.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/model.hpp"

namespace lorakit::model::detail {

class KeyTable {
 public:
  // `sorted` must be sorted by name and outlive the table.
  explicit KeyTable(const std::vector<TensorMeta>& sorted) : t_(sorted) {}

  const TensorMeta* get(std::string_view name) const;
  bool has(std::string_view name) const { return get(name) != nullptr; }
  bool any_with_prefix(std::string_view prefix) const;
  // Number of distinct N over keys "<head>N.…" (e.g. head "double_blocks." counts the blocks).
  uint32_t count_indices(std::string_view head) const;
  // The tensors whose names start with `prefix`, as [begin, end) into the sorted list.
  std::pair<size_t, size_t> range(std::string_view prefix) const;
  const std::vector<TensorMeta>& tensors() const { return t_; }

 private:
  const std::vector<TensorMeta>& t_;
};

// Dimension `i` of a tensor's shape, 0 when the tensor or the dimension is unknown (key lists
// without shapes are valid input).
inline uint64_t dim(const TensorMeta* t, size_t i) {
  return t != nullptr && i < t->shape.size() ? t->shape[i] : 0;
}

}  // namespace lorakit::model::detail
