// Helpers shared by the name maps.
#include <set>

#include "model/key_util.hpp"
#include "model/name_map.hpp"

namespace lorakit::model::detail {

Binding whole(const TensorMeta& t, DeltaTransform tr) {
  return Binding{{BindingPart{t.name, std::nullopt}}, tr};
}

Binding rows(const TensorMeta& t, uint64_t begin, uint64_t end) {
  return Binding{{BindingPart{t.name, RowSlice{begin, end}}}, DeltaTransform::None};
}

uint32_t count_indices(const ComponentKeys& ck, std::string_view head) {
  std::set<uint32_t> seen;
  for (auto it = ck.keys.lower_bound(head); it != ck.keys.end() && it->first.starts_with(head);
       ++it) {
    std::string_view rest(it->first);
    rest.remove_prefix(head.size());
    if (auto n = consume_index(rest)) seen.insert(*n);
  }
  return static_cast<uint32_t>(seen.size());
}

bool any_with_prefix(const ComponentKeys& ck, std::string_view prefix) {
  auto it = ck.keys.lower_bound(prefix);
  return it != ck.keys.end() && it->first.starts_with(prefix);
}

}  // namespace lorakit::model::detail
