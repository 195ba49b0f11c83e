#include "adapter/overlaps.hpp"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <set>

namespace lorakit::adapter::detail {

OverlapReport find_overlaps(const std::vector<Module>& modules,
                            const std::function<uint64_t(const std::string&)>& rows_of) {
  struct Use {
    size_t module;
    uint64_t begin, end;
  };
  // Weight parts and bias-only records are told apart: a diff_b-only record touches the bias
  // companion, not the weight rows.
  std::map<std::string, std::vector<Use>> by_tensor;
  for (size_t i = 0; i < modules.size(); ++i) {
    const Module& m = modules[i];
    const bool bias_only = m.factors.empty() && !m.bias.empty();
    for (const auto& p : m.target.parts) {
      const uint64_t rows = rows_of(p.tensor);
      const uint64_t b = p.rows ? p.rows->begin : 0, e = p.rows ? p.rows->end : rows;
      by_tensor[bias_only ? p.tensor + " (bias)" : p.tensor].push_back({i, b, e});
    }
  }
  OverlapReport r;
  std::set<std::pair<size_t, size_t>> seen;
  for (const auto& [tensor, uses] : by_tensor) {
    for (size_t a = 0; a < uses.size(); ++a)
      for (size_t b = a + 1; b < uses.size(); ++b) {
        const Use &x = uses[a], &y = uses[b];
        if (x.module == y.module || x.end <= y.begin || y.end <= x.begin) continue;
        if (!seen.insert({x.module, y.module}).second) continue;
        const std::string line = fmt::format("{} and {} on {}", modules[x.module].prefix,
                                             modules[y.module].prefix, tensor);
        if (x.begin == y.begin && x.end == y.end)
          r.duplicates.push_back(line);
        else
          r.overlaps.push_back(
              fmt::format("{} (rows [{}, {}) and [{}, {}))", line, x.begin, x.end, y.begin, y.end));
      }
  }
  return r;
}

}  // namespace lorakit::adapter::detail
