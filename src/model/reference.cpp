// Built-in reference layouts: a ModelIndex over a generated key + shape list, so that adapters can
// be checked and converted against an architecture without its weights.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "lorakit/error.hpp"
#include "lorakit/model.hpp"
#include "model/reference_data.hpp"

namespace lorakit::model {

std::vector<std::string> ModelIndex::reference_names() {
  std::vector<std::string> out;
  for (const auto& l : detail::reference_layouts()) out.emplace_back(l.name);
  return out;
}

ModelIndex ModelIndex::reference(std::string_view name) {
  for (const auto& l : detail::reference_layouts()) {
    if (l.name != name) continue;
    std::vector<TensorMeta> tensors;
    tensors.reserve(l.tensors.size());
    for (const auto& t : l.tensors)
      tensors.push_back({t.name, t.dtype, std::vector<uint64_t>(t.shape, t.shape + t.rank)});
    return from_tensors(fmt::format("arch:{}", name), std::move(tensors));
  }
  throw InvalidArgument(fmt::format("unknown reference architecture \"{}\" (known: {})", name,
                                    fmt::join(reference_names(), ", ")));
}

}  // namespace lorakit::model
