// What the adapter layer needs from a model: its architecture, components, module paths and tensor
// shapes. Parsing works on this view rather than on ModelIndex itself so that alias generation and
// binding can be exercised on hand-made module paths, and so that binding helpers (row ranges of
// slices and virtual concatenations, bias companions) live in one place.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/model.hpp"

namespace lorakit::adapter::detail {

struct ModelView {
  std::string origin;
  model::Architecture arch;
  std::vector<model::Component> components;
  std::span<const model::ModulePath> paths;
  // Model tensor by full name; nullptr when absent.
  std::function<const model::TensorMeta*(std::string_view)> find;

  static ModelView of(const model::ModelIndex& m);
  bool has_component(model::ComponentKind k) const;
  bool is_sd_unet() const;  // SD1, SD2, SDXL
  bool is_dit() const;      // SD3, FLUX
};

// Shape of what a binding denotes, in the model's orientation (before its transform): a slice has
// its row count in dimension 0, a virtual concatenation the sum of its parts' rows. nullopt when a
// tensor is missing, a slice is out of range, or the parts disagree beyond dimension 0.
std::optional<std::vector<uint64_t>> binding_shape(const model::Binding& b, const ModelView& m);

// Rows [begin, end) of what `b` denotes, expressed on the same tensors (a slice of a slice, or the
// parts of a concatenation that cover those rows). nullopt when the range does not fit.
std::optional<model::Binding> restrict_rows(const model::Binding& b, uint64_t begin, uint64_t end,
                                            const ModelView& m);

// The bias companion of a weight tensor ("x.weight" → "x.bias", OpenCLIP "in_proj_weight" →
// "in_proj_bias"); empty for tensors that have none by name (norm scales, embeddings without
// .weight).
std::string bias_companion(std::string_view weight_tensor);

// One-line description for reports: "t", "t[0:3072]", "a + b + c".
std::string describe(const model::Binding& b);

uint64_t element_count(const std::vector<uint64_t>& shape);

}  // namespace lorakit::adapter::detail
