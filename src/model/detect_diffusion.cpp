// Diffusion-model detection (lora-formats.md §2.2 prefix rule, §3.1 original layouts in the order
// SD3 → FLUX → SD UNet, §3.2 diffusers layouts). Works from names alone when shapes are missing
// (key lists), using structure instead of widths.
#include <algorithm>
#include <array>
#include <map>
#include <set>

#include "model/detect_parts.hpp"
#include "model/key_util.hpp"

namespace lorakit::model::detail {

namespace {

// Families lorakit recognises but does not bind (Architecture::unsupported). A marker anywhere in a
// key name is enough: these names occur in no supported layout.
constexpr std::array<std::pair<std::string_view, std::string_view>, 11> kUnsupportedMarkers{{
    {"distilled_guidance_layer.", "chroma"},
    {"double_stream_modulation_img.", "flux2"},
    {"single_stream_modulation.", "flux2"},
    {"controlnet_", "controlnet"},
    {"input_hint_block.", "controlnet"},
    {"zero_convs.", "controlnet"},
    {"noise_refiner.", "z-image"},
    {"context_refiner.", "z-image"},
    {"llm_adapter.", "anima"},
    {".img_mod.1.", "qwen-image"},
    {".processor.ip_adapter", "ip-adapter"},
}};

// §2.2: count keys under the three known prefixes; the most frequent wins with more than 5 keys,
// otherwise "model." is assumed.
std::string counting_rule_prefix(const KeyTable& keys) {
  std::string best = "model.";
  size_t best_n = 5;
  for (std::string_view p : {"model.diffusion_model.", "model.model.", "net."}) {
    auto [lo, hi] = keys.range(p);
    if (hi - lo > best_n) {
      best_n = hi - lo;
      best = p;
    }
  }
  return best;
}

struct Probe {
  const KeyTable& keys;
  std::string p;  // candidate prefix
  const TensorMeta* get(std::string_view k) const { return keys.get(p + std::string(k)); }
  bool has(std::string_view k) const { return get(k) != nullptr; }
  bool any(std::string_view k) const { return keys.any_with_prefix(p + std::string(k)); }
  uint32_t count(std::string_view head) const { return keys.count_indices(p + std::string(head)); }
};

bool has_encoder(const std::vector<FoundComponent>& enc, ComponentKind k) {
  for (const auto& e : enc)
    if (e.comp.kind == k) return true;
  return false;
}

// SD3 / SD3.5 MMDiT, original names (§3.1 test 1) or diffusers names (§3.2).
std::optional<Architecture> probe_sd3(const Probe& pr, bool diffusers) {
  Architecture a;
  a.family = Family::SD3;
  bool attn2 = false, qk_norm = false;
  const TensorMeta* embed = nullptr;
  uint32_t blocks = 0;
  if (!diffusers) {
    if (!pr.has("joint_blocks.0.context_block.attn.qkv.weight")) return std::nullopt;
    embed = pr.get("x_embedder.proj.weight");
    blocks = pr.count("joint_blocks.");
    qk_norm = pr.has("joint_blocks.0.context_block.attn.ln_q.weight");
    for (uint32_t n = 0; n < blocks && !attn2; ++n)
      attn2 = pr.has(fmt_block("joint_blocks.", n, ".x_block.attn2.qkv.weight"));
  } else {
    if (!pr.has("transformer_blocks.0.attn.add_q_proj.weight") ||
        pr.any("single_transformer_blocks.") || !pr.has("pos_embed.proj.weight"))
      return std::nullopt;
    embed = pr.get("pos_embed.proj.weight");
    blocks = pr.count("transformer_blocks.");
    qk_norm = pr.has("transformer_blocks.0.attn.norm_added_q.weight");
    for (uint32_t n = 0; n < blocks && !attn2; ++n)
      attn2 = pr.has(fmt_block("transformer_blocks.", n, ".attn2.to_q.weight"));
  }
  // depth = H / 64; every joint block is one of `depth` blocks, so the count stands in when the
  // shape is unknown.
  a.depth = dim(embed, 0) ? static_cast<uint32_t>(dim(embed, 0) / 64) : blocks;
  a.hidden = 64 * a.depth;
  a.in_channels = dim(embed, 1) ? static_cast<uint32_t>(dim(embed, 1)) : 16;
  if (attn2)
    a.variant = "sd3.5-medium";
  else if (qk_norm)
    a.variant = a.depth >= 38 ? "sd3.5-large" : "sd3.5-medium";
  else
    a.variant = "sd3-medium";
  return a;
}

// FLUX.1 (§3.1 test 2, §3.2).
std::optional<Architecture> probe_flux(const Probe& pr, bool diffusers) {
  Architecture a;
  a.family = Family::Flux;
  const TensorMeta* img_in = nullptr;
  bool guidance = false;
  if (!diffusers) {
    if (!pr.has("double_blocks.0.img_attn.norm.key_norm.scale") || !pr.has("img_in.weight") ||
        !pr.has("double_blocks.0.img_mod.lin.weight"))
      return std::nullopt;
    img_in = pr.get("img_in.weight");
    guidance = pr.has("guidance_in.in_layer.weight");
    a.depth = pr.count("double_blocks.");
    a.single_depth = pr.count("single_blocks.");
  } else {
    if (!pr.has("transformer_blocks.0.attn.add_q_proj.weight") ||
        !pr.any("single_transformer_blocks.") || !pr.has("x_embedder.weight"))
      return std::nullopt;
    img_in = pr.get("x_embedder.weight");
    guidance = pr.has("time_text_embed.guidance_embedder.linear_1.weight");
    a.depth = pr.count("transformer_blocks.");
    a.single_depth = pr.count("single_transformer_blocks.");
  }
  a.hidden = dim(img_in, 0) ? static_cast<uint32_t>(dim(img_in, 0)) : 3072;
  uint64_t cols = dim(img_in, 1);
  a.in_channels = cols ? static_cast<uint32_t>(cols / 4) : 16;
  if (!guidance)
    a.variant = "flux-schnell";
  else if (cols == 384)
    a.variant = "flux-fill";
  else if (cols == 128)
    a.variant = "flux-depth-canny";
  else
    a.variant = "flux-dev";
  return a;
}

// What the SD UNet table of §3.1 needs, read from either naming.
struct UnetFacts {
  uint64_t in_ch = 0, model_channels = 0, context = 0, adm = 0;
  bool label = false;   // label_emb / add_embedding / class_embedding present
  uint32_t levels = 0;  // resolution levels
  bool attn_level0 = false;
  int proj_in_rank = 0;  // 2: linear, 4: 1×1 conv, 0: unknown
};

std::optional<UnetFacts> unet_facts(const Probe& pr, bool diffusers) {
  UnetFacts f;
  const TensorMeta* conv_in = nullptr;
  if (!diffusers) {
    conv_in = pr.get("input_blocks.0.0.weight");
    if (!conv_in) return std::nullopt;
    for (uint32_t n = 1; n < 40 && !f.context; ++n) {
      f.context = dim(
          pr.get(fmt_block("input_blocks.", n, ".1.transformer_blocks.0.attn2.to_k.weight")), 1);
      if (const TensorMeta* pi = pr.get(fmt_block("input_blocks.", n, ".1.proj_in.weight")))
        if (!f.proj_in_rank && !pi->shape.empty())
          f.proj_in_rank = static_cast<int>(pi->shape.size());
    }
    if (!f.context)
      f.context = dim(pr.get("middle_block.1.transformer_blocks.0.attn2.to_k.weight"), 1);
    const TensorMeta* label = pr.get("label_emb.0.0.weight");
    f.label = label != nullptr;
    f.adm = dim(label, 1);
    uint32_t downsamplers = 0;
    for (uint32_t n = 1; n < 40; ++n)
      if (pr.has(fmt_block("input_blocks.", n, ".0.op.weight"))) ++downsamplers;
    f.levels = downsamplers + 1;
    f.attn_level0 = pr.any("input_blocks.1.1.");
  } else {
    conv_in = pr.get("conv_in.weight");
    if (!conv_in || !pr.has("time_embedding.linear_1.weight")) return std::nullopt;
    f.levels = pr.count("down_blocks.");
    for (uint32_t x = 0; x < f.levels && !f.context; ++x) {
      f.context = dim(pr.get(fmt_block("down_blocks.", x,
                                       ".attentions.0.transformer_blocks.0.attn2.to_k.weight")),
                      1);
      if (const TensorMeta* pi =
              pr.get(fmt_block("down_blocks.", x, ".attentions.0.proj_in.weight")))
        if (!f.proj_in_rank && !pi->shape.empty())
          f.proj_in_rank = static_cast<int>(pi->shape.size());
    }
    if (!f.context)
      f.context = dim(pr.get("mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"), 1);
    const TensorMeta* label = pr.get("add_embedding.linear_1.weight");
    if (!label) label = pr.get("class_embedding.linear_1.weight");
    f.label = label != nullptr;
    f.adm = dim(label, 1);
    f.attn_level0 = pr.any("down_blocks.0.attentions.0.");
  }
  f.model_channels = dim(conv_in, 0);
  f.in_ch = dim(conv_in, 1);
  return f;
}

// The SD UNet table of §3.1: widths decide; structure and text encoders stand in for missing
// shapes.
Architecture classify_unet(const UnetFacts& f, const std::vector<FoundComponent>& enc) {
  Architecture a;
  a.context_dim = static_cast<uint32_t>(f.context);
  a.in_channels = static_cast<uint32_t>(f.in_ch);
  enum { kSd1, kSd2, kSd2Unclip, kSdxl, kRefiner } kind;
  if (f.model_channels == 384 || f.context == 1280 || f.adm == 2560)
    kind = kRefiner;
  else if (f.context == 2048 || f.adm == 2816)
    kind = kSdxl;
  else if (f.context == 1024)
    kind = f.label ? kSd2Unclip : kSd2;
  else if (f.context == 768)
    kind = kSd1;
  else if (f.label || f.levels == 3)
    // No widths: SDXL has 3 levels, the refiner 4 without attention at level 0, unCLIP 4 with it.
    kind = f.levels == 3 ? kSdxl : (f.attn_level0 ? kSd2Unclip : kRefiner);
  else if (f.proj_in_rank == 2 || has_encoder(enc, ComponentKind::ClipH))
    kind = kSd2;
  else
    kind = kSd1;
  switch (kind) {
    case kRefiner:
      a.family = Family::SDXL, a.variant = "sdxl-refiner";
      if (!a.context_dim) a.context_dim = 1280;
      break;
    case kSdxl:
      a.family = Family::SDXL, a.variant = "sdxl";
      if (!a.context_dim) a.context_dim = 2048;
      break;
    case kSd2Unclip:
      a.family = Family::SD2, a.variant = "sd2-unclip";
      break;
    case kSd2:
      a.family = Family::SD2;
      a.variant = f.in_ch == 9 ? "sd2-inpaint" : f.in_ch == 5 ? "sd2-depth" : "sd2";
      if (!a.context_dim) a.context_dim = 1024;
      break;
    case kSd1:
      a.family = Family::SD1;
      a.variant = f.in_ch == 9 ? "sd1-inpaint" : f.in_ch == 8 ? "sd1-pix2pix" : "sd1";
      if (!a.context_dim) a.context_dim = 768;
      break;
  }
  if (a.family == Family::SD2 && !a.context_dim) a.context_dim = 1024;
  return a;
}

}  // namespace

FoundDiffusion find_diffusion_model(const KeyTable& keys, const std::vector<FoundComponent>& enc) {
  FoundDiffusion out;
  for (const auto& t : keys.tensors()) {
    for (const auto& [marker, label] : kUnsupportedMarkers) {
      if (t.name.find(marker) != std::string::npos) {
        out.arch.unsupported = label;
        return out;
      }
    }
  }

  // Candidate prefixes: the counting rule first, then bare names, then whatever prefix an anchor
  // key reveals (diffusers folders "unet."/"transformer.", ComfyUI's in-memory "diffusion_model.").
  std::vector<std::string> candidates{counting_rule_prefix(keys), ""};
  for (std::string_view anchor :
       {"joint_blocks.0.context_block.attn.qkv.weight",
        "double_blocks.0.img_attn.norm.key_norm.scale", "input_blocks.0.0.weight",
        "time_embedding.linear_1.weight", "transformer_blocks.0.attn.add_q_proj.weight"}) {
    for (const auto& t : keys.tensors()) {
      std::string_view n(t.name);
      if (!n.ends_with(anchor)) continue;
      std::string p(n.substr(0, n.size() - anchor.size()));
      // "single_transformer_blocks.0…" also ends with "transformer_blocks.0…"; not a prefix.
      if (!p.empty() && p.back() != '.') continue;
      if (std::find(candidates.begin(), candidates.end(), p) == candidates.end())
        candidates.push_back(p);
    }
  }

  auto found = [&](Architecture a, const std::string& prefix, Naming naming) {
    out.arch = std::move(a);
    out.comp = FoundComponent{{ComponentKind::DiffusionModel, naming, prefix, 0, 0}, false};
    return out;
  };
  for (const auto& p : candidates)
    if (auto a = probe_sd3({keys, p}, false)) return found(*a, p, Naming::Original);
  for (const auto& p : candidates)
    if (auto a = probe_flux({keys, p}, false)) return found(*a, p, Naming::Original);
  for (const auto& p : candidates)
    if (auto f = unet_facts({keys, p}, false))
      return found(classify_unet(*f, enc), p, Naming::Original);
  for (const auto& p : candidates)
    if (auto f = unet_facts({keys, p}, true))
      return found(classify_unet(*f, enc), p, Naming::Diffusers);
  for (const auto& p : candidates)
    if (auto a = probe_flux({keys, p}, true)) return found(*a, p, Naming::Diffusers);
  for (const auto& p : candidates)
    if (auto a = probe_sd3({keys, p}, true)) return found(*a, p, Naming::Diffusers);
  return out;
}

}  // namespace lorakit::model::detail
