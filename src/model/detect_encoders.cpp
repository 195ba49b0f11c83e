// Text encoders and VAE (lora-formats.md §3.3): found by one anchor key each, under whatever prefix
// the file uses (cond_stage_model., conditioner.embedders.N., text_encoders.clip_l.,
// text_encoder_2., bare, ...), then classified by width and depth.
#include <algorithm>
#include <set>

#include "model/detect_parts.hpp"
#include "model/key_util.hpp"

namespace lorakit::model::detail {

namespace {

constexpr std::string_view kHfAnchor = "text_model.encoder.layers.0.self_attn.q_proj.weight";
constexpr std::string_view kHfOldAnchor = "encoder.layers.0.self_attn.q_proj.weight";
constexpr std::string_view kOpenClipAnchor = "transformer.resblocks.0.attn.in_proj_weight";
constexpr std::string_view kT5Anchor = "encoder.block.0.layer.0.SelfAttention.q.weight";
constexpr std::string_view kLdmVaeAnchor = "encoder.down.0.block.0.conv1.weight";
constexpr std::string_view kDiffusersVaeAnchor = "encoder.down_blocks.0.resnets.0.conv1.weight";

// Prefixes P such that P + anchor is a key. A prefix ends at a name boundary ("" or "….").
std::vector<std::string> prefixes_of(const KeyTable& keys, std::string_view anchor) {
  std::vector<std::string> out;
  for (const auto& t : keys.tensors()) {
    std::string_view n(t.name);
    if (!n.ends_with(anchor)) continue;
    std::string_view p = n.substr(0, n.size() - anchor.size());
    if (p.empty() || p.back() == '.') out.emplace_back(p);
  }
  return out;
}

// CLIP widths: L 768 × 12, ViT-H 1024 × 24, bigG 1280 × 32. Width decides when shapes are known;
// a key list without shapes falls back on the depth (OpenCLIP files may drop the last layer, e.g.
// SD2's 23 of 24).
ComponentKind clip_kind(uint64_t width, uint32_t depth) {
  if (width == 768) return ComponentKind::ClipL;
  if (width == 1024) return ComponentKind::ClipH;
  if (width == 1280) return ComponentKind::ClipG;
  if (depth >= 30) return ComponentKind::ClipG;
  if (depth >= 20) return ComponentKind::ClipH;
  return ComponentKind::ClipL;
}

}  // namespace

std::vector<FoundComponent> find_encoders_and_vae(const KeyTable& keys) {
  std::vector<FoundComponent> out;
  std::set<std::string> hf_prefixes;

  for (const auto& p : prefixes_of(keys, kHfAnchor)) {
    hf_prefixes.insert(p + "text_model.");
    const std::string layers = p + "text_model.encoder.layers.";
    uint32_t depth = keys.count_indices(layers);
    uint64_t width = dim(keys.get(p + std::string(kHfAnchor)), 1);
    out.push_back(
        {{clip_kind(width, depth), Naming::HfClip, p, static_cast<uint32_t>(width), depth}, false});
  }
  for (const auto& p : prefixes_of(keys, kHfOldAnchor)) {
    if (hf_prefixes.count(p)) continue;  // the text_model. form, found above
    uint32_t depth = keys.count_indices(p + "encoder.layers.");
    uint64_t width = dim(keys.get(p + std::string(kHfOldAnchor)), 1);
    out.push_back(
        {{clip_kind(width, depth), Naming::HfClip, p, static_cast<uint32_t>(width), depth}, true});
  }
  for (const auto& p : prefixes_of(keys, kOpenClipAnchor)) {
    uint32_t depth = keys.count_indices(p + "transformer.resblocks.");
    uint64_t width = dim(keys.get(p + std::string(kOpenClipAnchor)), 1);
    out.push_back(
        {{clip_kind(width, depth), Naming::OpenClip, p, static_cast<uint32_t>(width), depth},
         false});
  }
  for (const auto& p : prefixes_of(keys, kT5Anchor)) {
    uint32_t depth = keys.count_indices(p + "encoder.block.");
    uint64_t width = dim(keys.get(p + std::string(kT5Anchor)), 1);
    out.push_back({{ComponentKind::T5xxl, Naming::HfT5, p,
                    static_cast<uint32_t>(width ? width : 4096), depth},
                   false});
  }
  for (auto anchor : {kLdmVaeAnchor, kDiffusersVaeAnchor}) {
    for (const auto& p : prefixes_of(keys, anchor)) {
      out.push_back({{ComponentKind::Vae, Naming::Vae, p, 0, 0}, false});
    }
  }
  return out;
}

}  // namespace lorakit::model::detail
