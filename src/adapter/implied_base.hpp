// What an adapter implies about its base model, read before binding (lora-formats.md §3.4): the
// cross-attention width of SD UNet records, the hidden width of DiT records, or failing both the
// width of text-encoder records. A contradiction with the model stops the load (lessons.md R15).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "adapter/model_view.hpp"

namespace lorakit::adapter::detail {

struct RecordWidth {
  std::string_view prefix;  // module prefix as written in the file
  uint64_t in_width = 0;    // input width its factors imply (0: none)
};

struct ImpliedBase {
  enum class Basis { None, CrossAttention, DitHidden, TextEncoder };
  Basis basis = Basis::None;
  std::string trained_for = "unknown";  // "sd1", "sd2", "sdxl", "sdxl-refiner", "sd3", "flux"
  std::string detail;                   // "cross-attention dim 768", "hidden 3072", …
  uint64_t width = 0;
  std::string warning;  // records disagree about the base
};

ImpliedBase implied_base(const std::vector<RecordWidth>& records);

// The model's own name and width in the words of the compatibility message ("sdxl", 2048).
std::string model_base_name(const ModelView& m);
uint64_t model_base_width(const ModelView& m);

// Empty when the implied base agrees with the model (or nothing is implied); otherwise the one-line
// error of §3.4, e.g. "style.safetensors: trained for sd1 (cross-attention dim 768), model is sdxl
// (2048): 0 of 264 modules match".
std::string compat_error(const ImpliedBase& b, const ModelView& m, std::string_view file_name,
                         uint64_t matched, uint64_t modules);

}  // namespace lorakit::adapter::detail
