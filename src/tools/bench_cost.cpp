// What a plan's units must move and compute: the bytes of every tensor read and written, the
// adapter factors read, and 2·rows·cols·rank flops per LoRA product with its shape.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <tuple>

#include "lorakit/dtype.hpp"
#include "tools/bench_internal.hpp"

namespace lorakit::tools::bench_detail {
namespace {

uint64_t product_of(const std::vector<uint64_t>& v, size_t from) {
  uint64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

// A unit's identity across plans: its tensors and its ordered (adapter file, record, strength).
std::string signature(const patch::Plan& plan, const patch::Unit& u) {
  std::string s;
  for (const auto& t : u.tensors) s += t + '\n';
  for (const auto& st : u.steps) {
    uint32_t bits;
    std::memcpy(&bits, &st.strength, sizeof bits);
    s += plan.entries.at(st.entry).adapter->path + '\t' + std::to_string(st.module) + '\t' +
         std::to_string(bits) + '\n';
  }
  return s;
}

}  // namespace

std::vector<uint32_t> all_units(const patch::Plan& plan) {
  std::vector<uint32_t> v(plan.units.size());
  for (uint32_t i = 0; i < v.size(); ++i) v[i] = i;
  return v;
}

std::vector<uint32_t> changed_units(const patch::Plan& before, const patch::Plan& after) {
  std::set<std::string> old;
  for (const auto& u : before.units) old.insert(signature(before, u));
  std::vector<uint32_t> v;
  for (uint32_t i = 0; i < after.units.size(); ++i)
    if (!old.contains(signature(after, after.units[i]))) v.push_back(i);
  return v;
}

Cost plan_cost(const patch::Plan& plan, const std::vector<uint32_t>& units,
               const io::TensorSource& base, const patch::Options& options) {
  Cost c;
  std::map<std::tuple<uint64_t, uint64_t, uint64_t>, uint64_t> shapes;
  std::set<std::pair<uint32_t, uint32_t>> factors_seen;  // (entry, module): factors read once
  for (uint32_t ui : units) {
    const auto& u = plan.units.at(ui);
    for (const auto& name : u.tensors) {
      const io::TensorInfo* info = base.find(name);
      if (!info) continue;
      ++c.tensors;
      c.tensor_read += info->nbytes;
      const DType out = patch::output_type(*info, options, true);
      c.tensor_written +=
          out == info->dtype ? info->nbytes : bytes_for(out, info->elements).value_or(0);
      c.largest_tensor = std::max(c.largest_tensor, info->nbytes);
    }
    for (const auto& st : u.steps) {
      const auto& m = plan.entries.at(st.entry).adapter->modules.at(st.module);
      if (factors_seen.insert({st.entry, st.module}).second)
        for (const auto& [role, f] : m.factors)
          if (f.info) c.factor_read += f.info->nbytes;
      // Plain LoRA products (down [rank, in, …], up [out, rank, …]); other record types are
      // outside the sgemm term (the synthetic adapters have none).
      if (m.kind != adapter::Kind::LoRA || m.factors.contains("mid")) continue;
      auto down = m.factors.find("down"), up = m.factors.find("up");
      if (down == m.factors.end() || up == m.factors.end() || !down->second.info ||
          !up->second.info)
        continue;
      const auto& ds = down->second.info->shape;
      const auto& us = up->second.info->shape;
      if (ds.size() < 2 || us.size() < 2) continue;
      const uint64_t rank = ds[0], cols = product_of(ds, 1), rows = us[0];
      c.flops += 2 * rows * cols * rank;
      ++shapes[{rows, cols, rank}];
    }
  }
  for (const auto& [k, n] : shapes) {
    SgemmShape s;
    std::tie(s.rows, s.cols, s.rank) = k;
    s.count = n;
    c.shapes.push_back(s);
  }
  return c;
}

}  // namespace lorakit::tools::bench_detail
