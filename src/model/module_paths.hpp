// Module paths of every component (lora-formats.md §2.7, §6.1 steps 1–2).
#pragma once

#include <vector>

#include "lorakit/model.hpp"
#include "model/detect.hpp"

namespace lorakit::model::detail {

// For each alias-source key of each component (weights, and keys that are neither weight nor bias):
// its own path bound to itself, then its equivalents in the family's other namings.
std::vector<ModulePath> build_module_paths(const Detection& d);

// The module path of a component-relative key, or nullopt when the key is not a path source: a
// bias (the companion of its weight), an OpenCLIP in_proj_bias, or a scaled-fp8 / quantization
// side tensor (file-formats.md §6.6).
std::optional<std::string> path_of_key(std::string_view inner);

}  // namespace lorakit::model::detail
