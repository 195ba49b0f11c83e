// Splitting an adapter key into module prefix + suffix (lora-formats.md §5.1). A key may end with
// several suffix strings (`…processor.qkv_lora.down.weight` ends with both `_lora.down.weight` and
// `.down.weight`), so every reading is produced; the alias map decides which one is real.
#pragma once

#include <string_view>
#include <vector>

#include "adapter/suffixes.hpp"

namespace lorakit::adapter::detail {

struct Split {
  std::string_view prefix;  // the module prefix this reading gives (the whole key for raw)
  const Suffix* suffix = nullptr;
};

// Every reading of `key` as prefix + suffix with a non-empty prefix, longest suffix first; the raw
// reading (whole key, empty suffix) comes last.
std::vector<Split> candidate_splits(std::string_view key);

// flat(x) of §1: every '.' replaced by '_'.
std::string flat(std::string_view dotted);

}  // namespace lorakit::adapter::detail
