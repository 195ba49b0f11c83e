// A table-driven map between a DiT's original names (MMDiT, BFL) and its diffusers names, shared by
// SD3 (§2.4) and FLUX (§2.5): one-to-one renames, fused tensors split into row ranges, and the
// swap_scale_shift transform of the final modulation layers.
#pragma once

#include <array>
#include <span>
#include <string_view>

#include "model/name_map.hpp"

namespace lorakit::model::detail {

struct DitPair {
  std::string_view orig, diff;
  bool swap = false;       // swap_scale_shift (§7.4)
  bool swap_last = false;  // only in the last block (SD3 context_block adaLN)
};

// An original fused tensor and its diffusers parts, in row order. Part j has H rows, except an
// `mlp_last` group whose last part has the MLP width M. A `virtual_of` group is a name that only
// exists in the original naming as rows [0, ΣH) of another tensor (FLUX linear1_qkv of linear1).
struct DitFused {
  std::string_view orig;
  std::array<std::string_view, 4> parts;
  size_t n = 3;
  bool mlp_last = false;
  std::string_view virtual_of = {};
};

struct DitBlocks {
  std::string_view orig_head, diff_head;  // "double_blocks." ↔ "transformer_blocks."
  std::span<const DitPair> pairs;
  std::span<const DitFused> fused;
};

struct DitTables {
  std::span<const DitPair> top;
  std::span<const DitBlocks> blocks;
};

// `hidden` is H; `mlp` is M (0 when the family has no fused MLP rows).
std::unique_ptr<NameMap> make_dit_map(const ComponentKeys& ck, const DitTables& tables,
                                      uint64_t hidden, uint64_t mlp);

}  // namespace lorakit::model::detail
