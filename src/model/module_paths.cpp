// Builds ModelIndex::module_paths from the detected components and the family's name maps.
#include "model/module_paths.hpp"

#include <array>
#include <set>

#include "model/name_map.hpp"

namespace lorakit::model::detail {

namespace {

// Side tensors of quantized layers: data about a weight, never a module of their own.
constexpr std::array<std::string_view, 5> kSideSuffixes{
    ".scale_weight", ".scale_input", ".weight_scale", ".input_scale", ".comfy_quant"};

std::unique_ptr<NameMap> map_for(const ComponentKeys& ck, const Architecture& a) {
  switch (ck.comp.kind) {
    case ComponentKind::DiffusionModel:
      switch (a.family) {
        case Family::SD1:
        case Family::SD2:
        case Family::SDXL:
          return make_unet_map(ck);
        case Family::SD3:
          return make_mmdit_map(ck, a);
        case Family::Flux:
          return make_flux_map(ck, a);
        case Family::Unknown:
          return nullptr;
      }
      return nullptr;
    case ComponentKind::ClipH:
    case ComponentKind::ClipG:
      return make_clip_map(ck);
    default:
      return nullptr;
  }
}

}  // namespace

std::optional<std::string> path_of_key(std::string_view inner) {
  if (inner.ends_with(".bias") || inner.ends_with("in_proj_bias") || inner == "scaled_fp8")
    return std::nullopt;
  for (auto s : kSideSuffixes)
    if (inner.ends_with(s)) return std::nullopt;
  if (inner.ends_with(".weight")) inner.remove_suffix(7);
  return std::string(inner);
}

std::vector<ModulePath> build_module_paths(const Detection& d) {
  std::vector<ModulePath> out;
  std::vector<Equivalent> eq;
  for (const auto& ck : d.components) {
    auto map = map_for(ck, d.arch);
    std::set<std::pair<Naming, std::string>> seen;
    for (const auto& [inner, meta] : ck.keys) {
      auto path = path_of_key(inner);
      if (!path) continue;
      if (seen.insert({ck.comp.naming, *path}).second)
        out.push_back({ck.comp.kind, ck.comp.naming, *path, whole(*meta)});
      if (!map) continue;
      eq.clear();
      map->equivalents(*path, *meta, eq);
      for (auto& e : eq) {
        if (!seen.insert({e.naming, e.path}).second) continue;
        out.push_back({ck.comp.kind, e.naming, std::move(e.path), std::move(e.binding)});
      }
    }
  }
  return out;
}

}  // namespace lorakit::model::detail
