// Name maps between the namings of one family (lora-formats.md §2.3–§2.6). A map is built once per
// component from the keys it holds and then asked, path by path, for the equivalent names.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lorakit/model.hpp"
#include "model/detect.hpp"

namespace lorakit::model::detail {

struct Equivalent {
  Naming naming;
  std::string path;
  Binding binding;
};

class NameMap {
 public:
  virtual ~NameMap() = default;
  // Appends the equivalents of `path` (a path in the component's own naming whose tensor is `t`).
  // A fused name that several own paths share (diffusers q, k, v → one BFL qkv) may be appended
  // more than once; the caller keeps the first.
  virtual void equivalents(std::string_view path, const TensorMeta& t,
                           std::vector<Equivalent>& out) const = 0;
};

std::unique_ptr<NameMap> make_unet_map(const ComponentKeys& ck);                          // §2.3
std::unique_ptr<NameMap> make_mmdit_map(const ComponentKeys& ck, const Architecture& a);  // §2.4
std::unique_ptr<NameMap> make_flux_map(const ComponentKeys& ck, const Architecture& a);   // §2.5
std::unique_ptr<NameMap> make_clip_map(const ComponentKeys& ck);                          // §2.6

// Helpers shared by the maps.
Binding whole(const TensorMeta& t, DeltaTransform tr = DeltaTransform::None);
Binding rows(const TensorMeta& t, uint64_t begin, uint64_t end);
// Number of distinct N over the component's keys "<head>N.…".
uint32_t count_indices(const ComponentKeys& ck, std::string_view head);
bool any_with_prefix(const ComponentKeys& ck, std::string_view prefix);

}  // namespace lorakit::model::detail
