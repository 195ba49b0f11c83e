// The adapter key suffixes of lora-formats.md §5.2: what each one means (which adapter type, which
// factor role) and which suffix family it belongs to, so that grouping can tell a LoHa key from a
// LoRA key and a kohya LoRA from a PEFT one.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace lorakit::adapter::detail {

// Families whose members must not be mixed within one record (§5.3: `.lora_A.weight` together with
// `.lora_down.weight` is a conflict). Extras shared by every family are `Generic`.
enum class SuffixFamily : uint8_t {
  Generic,        // .alpha, .dora_scale, .reshape_weight, .diff_b
  Kohya,          // .lora_down/.lora_up/.lora_mid.weight
  Processor,      // _lora.down/_lora.up.weight (old diffusers attention processors)
  DiffusersLora,  // .lora.down/.lora.up.weight
  LinearLayer,    // .lora_linear_layer.down/up.weight
  Peft,           // .lora_A/.lora_B.weight
  PeftNamed,      // .lora_A/.lora_B.default.weight
  PeftBare,       // .lora_A/.lora_B
  PeftExtra,      // .lora_B.bias, .lora_A.bias, .lora_magnitude_vector (any PEFT variant)
  XLabs,          // .down/.up.weight, only on XLabs aliases
  LoHa,
  LoKr,
  GLoRA,
  OFT,
  IA3,
  Full,
  Norm,
  Set,
  Raw,          // no suffix at all: the key is a model norm scale (BFL Control)
  Unsupported,  // known keys lorakit does not implement (sparse LyCORIS bias, §13.10)
};

// The weight type a suffix implies; `None` for extras that may accompany any type.
enum class WeightType : uint8_t { None, LoRA, LoHa, LoKr, GLoRA, OFT, IA3, Full, Norm, Set };

// Where a key goes in the canonical Module.
enum class Slot : uint8_t {
  Factor,   // Module::factors[role]
  Bias,     // Module::bias[role]
  Alpha,    // Module::alpha
  Dora,     // Module::dora_scale (role tells dora_scale from lora_magnitude_vector)
  Reshape,  // Module::reshape_weight
  Ignored,  // recognised but not used (unsupported extras)
};

struct Suffix {
  std::string_view text;  // e.g. ".lora_down.weight"; empty for the raw replacement
  std::string_view role;  // factor role, e.g. "down", "w1a", "diff_b"
  Slot slot;
  WeightType type;
  SuffixFamily family;
};

// Every suffix of §5.2, longest first (so that callers that want one reading try the most specific
// one first), then the raw replacement (empty text) last.
std::span<const Suffix> all_suffixes();

// True for the LoRA down/up suffix families that must agree within a record.
bool is_lora_pair_family(SuffixFamily f);
bool is_peft_family(SuffixFamily f);

}  // namespace lorakit::adapter::detail
