// Several records on one target (lora-formats.md §6.4): records bound to the same tensor rows are
// duplicate bindings, records on overlapping but different rows are overlaps. Both are applied in
// file key order; the report flags them.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lorakit/adapter.hpp"

namespace lorakit::adapter::detail {

struct OverlapReport {
  std::vector<std::string> duplicates, overlaps;
};

// `rows_of(tensor)` gives a tensor's row count (to compare whole-tensor parts with slices).
OverlapReport find_overlaps(const std::vector<Module>& modules,
                            const std::function<uint64_t(const std::string&)>& rows_of);

}  // namespace lorakit::adapter::detail
