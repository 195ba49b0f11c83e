// The two halves of detection: encoders/VAE (found by anchor keys under any prefix) and the
// diffusion model (prefix rule of lora-formats.md §2.2, family tests of §3.1/§3.2).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lorakit/model.hpp"
#include "model/key_table.hpp"

namespace lorakit::model::detail {

struct FoundComponent {
  Component comp;
  bool insert_text_model = false;  // HF CLIP keys written without "text_model." (old SD1 files)
};

// Text encoders (§3.3) and the VAE, each identified by an anchor key and confirmed by width/depth.
std::vector<FoundComponent> find_encoders_and_vae(const KeyTable& keys);

struct FoundDiffusion {
  Architecture arch;
  std::optional<FoundComponent> comp;  // absent when no supported diffusion model was found
};

// `encoders` lets a shape-less key list fall back on its text encoders to tell SD1 from SD2.
FoundDiffusion find_diffusion_model(const KeyTable& keys,
                                    const std::vector<FoundComponent>& encoders);

}  // namespace lorakit::model::detail
