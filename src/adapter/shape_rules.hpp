// Shapes (lora-formats.md §8): the ΔW (or F(W)) shape each adapter type implies from its factor
// shapes alone, the reshape rule of §8.0 that decides whether it fits its target, and the DoRA axis
// read from the stored magnitude's shape (§8.6). Nothing here reads tensor values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lorakit/adapter.hpp"

namespace lorakit::adapter::detail {

using Shape = std::vector<uint64_t>;

struct Implied {
  Shape shape;        // what the record writes into its target (before the binding's transform)
  uint64_t rank = 0;  // r used for γ (§9); LoKr: d, 0 when no factor is split
  bool glora_old = false;  // GLoRA: the old factor layout (§8.5)
  std::string error;       // non-empty: factors that do not fit together (or the target, for
                           // W-dependent types); `shape` is then meaningless
};

// `target` is the shape the record sees (the slice or concatenation rows, transposed when the
// binding transposes); W-dependent types (GLoRA, OFT, BOFT, IA3) need it.
Implied implied_shape(const Module& m, const Shape& target);

// The input width a record implies (§3.4): A's second dimension and its equivalents. 0 when the
// type carries none (OFT, IA3) or the factors are missing.
uint64_t input_width(const Module& m);

// §8.0: dimension 0 equal and the same element count; 1-D targets only by exact match.
bool fits(const Shape& implied, const Shape& target);

// §8.6: which axis a magnitude applies to. `error` set when its shape fits neither; `warning` when
// a 1-D dora_scale on a square target had to be read as the output axis.
struct DoraAxisResult {
  Module::DoraAxis axis = Module::DoraAxis::None;
  std::string error, warning;
};
DoraAxisResult dora_axis(const Shape& magnitude, bool peft_magnitude, const Shape& target);

std::string shape_text(const Shape& s);

}  // namespace lorakit::adapter::detail
