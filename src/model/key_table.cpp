// KeyTable: binary searches over the sorted tensor list.
#include "model/key_table.hpp"

#include <algorithm>
#include <set>

#include "model/key_util.hpp"

namespace lorakit::model::detail {

namespace {
bool name_less(const TensorMeta& a, std::string_view b) { return a.name < b; }
}  // namespace

const TensorMeta* KeyTable::get(std::string_view name) const {
  auto it = std::lower_bound(t_.begin(), t_.end(), name, name_less);
  return it != t_.end() && it->name == name ? &*it : nullptr;
}

std::pair<size_t, size_t> KeyTable::range(std::string_view prefix) const {
  auto lo = std::lower_bound(t_.begin(), t_.end(), prefix, name_less);
  auto hi = lo;
  while (hi != t_.end() && std::string_view(hi->name).starts_with(prefix)) ++hi;
  return {static_cast<size_t>(lo - t_.begin()), static_cast<size_t>(hi - t_.begin())};
}

bool KeyTable::any_with_prefix(std::string_view prefix) const {
  auto [lo, hi] = range(prefix);
  return lo != hi;
}

uint32_t KeyTable::count_indices(std::string_view head) const {
  auto [lo, hi] = range(head);
  std::set<uint32_t> seen;
  for (size_t i = lo; i < hi; ++i) {
    std::string_view rest(t_[i].name);
    rest.remove_prefix(head.size());
    if (auto n = consume_index(rest)) seen.insert(*n);
  }
  return static_cast<uint32_t>(seen.size());
}

}  // namespace lorakit::model::detail
