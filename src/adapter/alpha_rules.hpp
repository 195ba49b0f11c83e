// Alpha rules (lora-formats.md §9, §8.14): the scale γ = α / r (or α / √r with PEFT use_rslora) per
// adapter type, where α comes from the record's `.alpha` key, from PEFT's `lora_adapter_metadata`,
// or nowhere; and the OFT/BOFT constraint that alpha means for those types.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapter/suffixes.hpp"
#include "lorakit/adapter.hpp"
#include "lorakit/io.hpp"

namespace lorakit::adapter::detail {

// One PEFT LoraConfig as diffusers stores it in `lora_adapter_metadata` (§4.3).
struct PeftConfig {
  std::optional<double> r, lora_alpha;
  std::vector<std::pair<std::string, double>> rank_pattern, alpha_pattern;
  bool use_rslora = false;
};

// The file's configs: "" for a plain config, or one per component ("transformer", "unet",
// "text_encoder", ...) when diffusers packed them with component prefixes.
struct PeftMetadata {
  std::map<std::string, PeftConfig> configs;
  std::string error;  // the metadata was present but unreadable
  bool empty() const { return configs.empty(); }
};
PeftMetadata read_peft_metadata(const std::vector<io::MetadataEntry>& metadata);

struct AlphaInput {
  Kind kind = Kind::LoRA;
  SuffixFamily lora_family = SuffixFamily::Generic;
  std::optional<float> stored_alpha;  // the `.alpha` key's value
  uint64_t rank = 0;                  // r of §9 (LoKr: d, 0 when unset)
  uint64_t out_rows = 0;              // target rows (OFT constraint)
  std::string prefix;                 // module prefix (PEFT pattern lookup)
};

struct AlphaResult {
  std::optional<float> alpha;  // α as used (stored or from metadata)
  float scale = 1.0f;          // γ, or the OFT/BOFT constraint c
  std::string warning;         // α = 0 read as γ = 1, alpha ignored, …
  std::string error;           // the record is invalid (negative OFT constraint)
};

AlphaResult alpha_scale(const AlphaInput& in, const PeftMetadata& peft);

}  // namespace lorakit::adapter::detail
