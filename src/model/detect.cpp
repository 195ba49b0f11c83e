// Detection as a whole: find the components, give every tensor to the component whose prefix it
// carries (longest prefix wins), name the file layout, and check a GGUF architecture label.
#include "model/detect.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "lorakit/error.hpp"
#include "model/detect_parts.hpp"

namespace lorakit::model::detail {

namespace {

// §2.1 layouts, from the diffusion model when there is one, else from the first component.
Layout layout_of(const std::vector<ComponentKeys>& comps, const KeyTable& keys) {
  if (comps.empty()) return Layout::Unknown;
  const Component& c = comps.front().comp;
  const std::string& p = c.prefix;
  bool diffusers_naming =
      c.naming == Naming::Diffusers || c.naming == Naming::HfClip || c.naming == Naming::HfT5 ||
      (c.naming == Naming::Vae && keys.any_with_prefix(p + "encoder.down_blocks."));
  if (c.kind == ComponentKind::DiffusionModel) {
    if (c.naming == Naming::Diffusers) return Layout::Diffusers;
    if (p.empty()) return Layout::Bfl;
    if (p == "model.diffusion_model.") {
      if (comps.size() > 1 && comps[1].comp.prefix.starts_with("text_encoders.")) {
        // SD3 files name their encoders text_encoders.* too; the MMDiT keys decide.
        return comps.front().has("joint_blocks.0.context_block.attn.qkv.weight") ? Layout::Sd3Single
                                                                                 : Layout::ComfyUI;
      }
      if (comps.front().has("double_blocks.0.img_mod.lin.weight")) return Layout::ComfyUI;
      if (comps.front().has("joint_blocks.0.context_block.attn.qkv.weight"))
        return Layout::Sd3Single;
    }
    return Layout::LdmSgm;
  }
  if (p.empty()) return diffusers_naming ? Layout::Diffusers : Layout::Bfl;
  if (p.starts_with("cond_stage_model.") || p.starts_with("conditioner.") ||
      p.starts_with("first_stage_model."))
    return Layout::LdmSgm;
  if (p.starts_with("text_encoders.") || p.starts_with("vae.")) return Layout::ComfyUI;
  if (p.starts_with("text_encoder") || p.starts_with("unet.") || p.starts_with("transformer."))
    return Layout::Diffusers;
  return Layout::Unknown;
}

// file-formats.md §3.3: a GGUF `general.architecture` of flux/sd1/sdxl/sd3 must agree with the
// keys. ComfyUI-GGUF writes "sd1" for every SD1.x/SD2.x UNet (same key layout), so "sd1" accepts
// SD2.
void check_gguf_architecture(const Architecture& a, const std::string& origin,
                             const std::vector<io::MetadataEntry>& metadata) {
  for (const auto& e : metadata) {
    if (e.key != "general.architecture") continue;
    const auto* label = std::get_if<std::string>(&e.value.value);
    if (!label) return;
    bool ok;
    if (*label == "flux")
      ok = a.family == Family::Flux;
    else if (*label == "sd1")
      ok = a.family == Family::SD1 || a.family == Family::SD2;
    else if (*label == "sdxl")
      ok = a.family == Family::SDXL;
    else if (*label == "sd3")
      ok = a.family == Family::SD3;
    else
      return;  // other labels (t5, aura, wan, ...): key detection alone
    if (!ok) {
      std::string found = a.family != Family::Unknown ? a.variant
                          : a.unsupported.empty()     ? std::string("no known architecture")
                                                      : a.unsupported + " (unsupported)";
      throw FormatError(
          origin, "arch_mismatch",
          fmt::format("general.architecture is \"{}\" but the tensor names are those of {}", *label,
                      found));
    }
    return;
  }
}

}  // namespace

Detection detect(const std::vector<TensorMeta>& sorted, const std::string& origin,
                 const std::vector<io::MetadataEntry>& metadata) {
  KeyTable keys(sorted);
  std::vector<FoundComponent> found = find_encoders_and_vae(keys);
  std::stable_sort(
      found.begin(), found.end(),
      [](const FoundComponent& a, const FoundComponent& b) { return a.comp.kind < b.comp.kind; });
  FoundDiffusion dm = find_diffusion_model(keys, found);

  Detection d;
  d.arch = dm.arch;
  if (dm.comp) found.insert(found.begin(), *dm.comp);
  for (const auto& f : found) d.components.push_back({f.comp, {}});

  // Longest matching prefix owns a tensor; a bare diffusion model takes whatever nobody else does.
  for (const auto& t : sorted) {
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < found.size(); ++i) {
      const std::string& p = found[i].comp.prefix;
      if (!t.name.starts_with(p)) continue;
      if (best < 0 || p.size() > best_len) best = static_cast<int>(i), best_len = p.size();
    }
    if (best < 0) continue;
    std::string inner = t.name.substr(best_len);
    if (found[best].insert_text_model) inner = "text_model." + inner;
    d.components[best].keys.emplace(std::move(inner), &t);
  }
  d.layout = layout_of(d.components, keys);
  for (const auto& t : sorted)
    d.arch.scaled_fp8 |= t.name == "scaled_fp8" || t.name.ends_with(".scaled_fp8");
  check_gguf_architecture(d.arch, origin, metadata);
  return d;
}

}  // namespace lorakit::model::detail
