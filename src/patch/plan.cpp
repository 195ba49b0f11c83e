// make_plan: which tensors each record writes, grouped into units that are computed together.
#include <algorithm>
#include <numeric>

#include "lorakit/error.hpp"
#include "lorakit/patch.hpp"

namespace lorakit::patch {
namespace {

// Union-find over tensor indices: a record bound to several tensors joins them into one unit.
struct Groups {
  std::vector<uint32_t> parent;
  uint32_t find(uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  }
  void join(uint32_t a, uint32_t b) {
    a = find(a), b = find(b);
    if (a != b) parent[std::max(a, b)] = std::min(a, b);
  }
};

}  // namespace

const Unit* Plan::find(std::string_view tensor) const {
  auto it = unit_of.find(std::string(tensor));
  return it == unit_of.end() ? nullptr : &units[it->second];
}

Plan make_plan(const model::ModelIndex& model, std::vector<AdapterEntry> entries) {
  Plan plan;
  plan.entries = std::move(entries);
  const auto& tensors = model.tensors();
  std::unordered_map<std::string_view, uint32_t> index;
  index.reserve(tensors.size());
  for (uint32_t i = 0; i < tensors.size(); ++i) index.emplace(tensors[i].name, i);
  auto index_of = [&](const std::string& name, const adapter::Adapter& a,
                      const adapter::Module& m) -> uint32_t {
    auto it = index.find(name);
    if (it == index.end())
      throw InvalidArgument(a.path + ": record '" + m.prefix + "' is bound to '" + name +
                            "', which " + model.origin() +
                            " does not have (was the adapter parsed against another model?)");
    return it->second;
  };

  // Pass 1: the weights each step writes, joined per record.
  Groups groups{std::vector<uint32_t>(tensors.size())};
  std::iota(groups.parent.begin(), groups.parent.end(), 0u);
  struct Pending {
    Step step;
    uint32_t first_tensor;
  };
  std::vector<Pending> pending;
  std::vector<bool> touched(tensors.size(), false);
  for (uint32_t e = 0; e < plan.entries.size(); ++e) {
    const auto& entry = plan.entries[e];
    if (!entry.adapter) throw InvalidArgument("adapter entry " + std::to_string(e) + " is empty");
    if (entry.strength == 0.0f) continue;
    const auto& mods = entry.adapter->modules;
    for (uint32_t m = 0; m < mods.size(); ++m) {
      const auto& mod = mods[m];
      if (mod.target.parts.empty()) continue;
      const uint32_t first = index_of(mod.target.parts.front().tensor, *entry.adapter, mod);
      for (const auto& part : mod.target.parts) {
        const uint32_t t = index_of(part.tensor, *entry.adapter, mod);
        touched[t] = true;
        groups.join(first, t);
      }
      pending.push_back({Step{e, m, entry.strength}, first});
    }
  }

  // Pass 2: one unit per group, holding its weights and their companions in model order.
  std::unordered_map<uint32_t, uint32_t> unit_of_root;
  for (uint32_t t = 0; t < tensors.size(); ++t) {
    if (!touched[t]) continue;
    const uint32_t root = groups.find(t);
    auto [it, fresh] = unit_of_root.emplace(root, static_cast<uint32_t>(plan.units.size()));
    if (fresh) plan.units.emplace_back();
    plan.units[it->second].tensors.push_back(tensors[t].name);
  }
  for (const auto& p : pending) {
    Unit& u = plan.units[unit_of_root.at(groups.find(p.first_tensor))];
    u.steps.push_back(p.step);
  }
  for (auto& u : plan.units) {
    const std::vector<std::string> weights = u.tensors;
    std::vector<bool> has_bias_step(weights.size(), false);
    for (const Step& st : u.steps) {
      const auto& mod = plan.entries[st.entry].adapter->modules[st.module];
      if (mod.bias.empty()) continue;
      for (const auto& part : mod.target.parts)
        for (size_t w = 0; w < weights.size(); ++w)
          if (weights[w] == part.tensor) has_bias_step[w] = true;
    }
    for (size_t w = 0; w < weights.size(); ++w) {
      if (has_bias_step[w])
        if (const auto* b = model.bias_of(weights[w])) {
          u.bias_of.emplace(weights[w], b->name);
          u.tensors.push_back(b->name);
        }
      if (model.arch().scaled_fp8 && weights[w].ends_with(".weight")) {
        std::string scale = weights[w].substr(0, weights[w].size() - 7) + ".scale_weight";
        if (index.contains(scale)) {
          u.scale_of.emplace(weights[w], scale);
          u.tensors.push_back(std::move(scale));
        }
      }
    }
    std::sort(u.tensors.begin(), u.tensors.end(), [&](const std::string& a, const std::string& b) {
      return index.at(a) < index.at(b);
    });
  }
  for (uint32_t i = 0; i < plan.units.size(); ++i)
    for (const auto& t : plan.units[i].tensors) plan.unit_of.emplace(t, i);
  return plan;
}

}  // namespace lorakit::patch
