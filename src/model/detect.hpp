// Architecture and layout detection (lora-formats.md §2.2, §3): which components a checkpoint
// holds, under which prefixes and namings, and the diffusion model's family, variant and
// dimensions.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lorakit/io.hpp"
#include "lorakit/model.hpp"

namespace lorakit::model::detail {

// One component and its tensors, keyed by the name inside the component: the prefix removed and,
// for HF CLIP files written without it, "text_model." inserted, so that every map sees one naming.
struct ComponentKeys {
  Component comp;
  std::map<std::string, const TensorMeta*, std::less<>> keys;

  const TensorMeta* get(std::string_view k) const {
    auto it = keys.find(k);
    return it == keys.end() ? nullptr : it->second;
  }
  bool has(std::string_view k) const { return keys.find(k) != keys.end(); }
};

struct Detection {
  Architecture arch;
  Layout layout = Layout::Unknown;
  std::vector<ComponentKeys> components;  // diffusion model first, then encoders, then the VAE
};

// `sorted` is the model's tensor list sorted by name; the result points into it. Throws
// FormatError("arch_mismatch") when a GGUF `general.architecture` contradicts the keys
// (file-formats.md §3.3).
Detection detect(const std::vector<TensorMeta>& sorted, const std::string& origin,
                 const std::vector<io::MetadataEntry>& metadata);

}  // namespace lorakit::model::detail
