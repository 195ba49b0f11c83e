// ModelIndex: construction from a tensor source or a plain tensor list, lookups.
#include <fmt/format.h>

#include <algorithm>

#include "lorakit/error.hpp"
#include "lorakit/model.hpp"
#include "model/detect.hpp"
#include "model/module_paths.hpp"

namespace lorakit::model {

ModelIndex ModelIndex::from_source(const io::TensorSource& src) {
  std::vector<TensorMeta> tensors;
  tensors.reserve(src.tensors().size());
  for (const auto& t : src.tensors()) tensors.push_back({t.name, t.dtype, t.shape});
  return from_tensors(src.path(), std::move(tensors), src.metadata());
}

ModelIndex ModelIndex::from_tensors(std::string origin, std::vector<TensorMeta> tensors,
                                    const std::vector<io::MetadataEntry>& metadata) {
  ModelIndex m;
  m.origin_ = std::move(origin);
  m.tensors_ = std::move(tensors);
  std::sort(m.tensors_.begin(), m.tensors_.end(),
            [](const TensorMeta& a, const TensorMeta& b) { return a.name < b.name; });
  auto dup =
      std::adjacent_find(m.tensors_.begin(), m.tensors_.end(),
                         [](const TensorMeta& a, const TensorMeta& b) { return a.name == b.name; });
  if (dup != m.tensors_.end())
    throw InvalidArgument(fmt::format("{}: tensor \"{}\" appears twice", m.origin_, dup->name));

  detail::Detection d = detail::detect(m.tensors_, m.origin_, metadata);
  m.arch_ = d.arch;
  m.layout_ = d.layout;
  for (const auto& c : d.components) m.components_.push_back(c.comp);
  m.module_paths_ = detail::build_module_paths(d);
  return m;
}

const TensorMeta* ModelIndex::find(std::string_view name) const {
  auto it = std::lower_bound(tensors_.begin(), tensors_.end(), name,
                             [](const TensorMeta& t, std::string_view n) { return t.name < n; });
  return it != tensors_.end() && it->name == name ? &*it : nullptr;
}

const TensorMeta* ModelIndex::bias_of(std::string_view weight_tensor) const {
  std::string bias;
  if (weight_tensor.ends_with(".weight"))
    bias = std::string(weight_tensor.substr(0, weight_tensor.size() - 6)) + "bias";
  else if (weight_tensor.ends_with("in_proj_weight"))
    bias = std::string(weight_tensor.substr(0, weight_tensor.size() - 6)) + "bias";
  else
    return nullptr;
  return find(bias);
}

void ModelIndex::require_supported() const {
  if (arch_.family != Family::Unknown) return;
  throw FormatError(
      origin_, "unsupported_model",
      arch_.unsupported.empty()
          ? std::string("no supported diffusion model found (SD1, SD2, SDXL, SD3, FLUX.1)")
          : fmt::format("{} models are not supported", arch_.unsupported));
}

}  // namespace lorakit::model
