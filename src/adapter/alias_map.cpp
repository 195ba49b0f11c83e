#include "adapter/alias_map.hpp"

#include <algorithm>
#include <optional>

#include "adapter/key_grammar.hpp"

namespace lorakit::adapter::detail {

using model::Binding;
using model::ComponentKind;
using model::ModulePath;
using model::Naming;

bool accepts(const AliasEntry& a, const Suffix& s) {
  if (s.family == SuffixFamily::XLabs) return a.xlabs;
  if (s.family == SuffixFamily::Raw) return a.raw;
  return true;
}

void AliasMap::add(std::string alias, const Binding& b, ComponentKind comp, std::string_view source,
                   bool xlabs, bool raw) {
  auto it = map_.find(alias);
  if (it == map_.end()) {
    map_.emplace(std::move(alias), AliasEntry{b, comp, xlabs, raw, false, std::string(source)});
    return;
  }
  AliasEntry& e = it->second;
  if (!(e.binding == b)) e.ambiguous = true;
  e.xlabs = e.xlabs || xlabs;
  e.raw = e.raw || raw;
}

const AliasEntry* AliasMap::find(std::string_view alias) const {
  auto it = map_.find(alias);
  return it == map_.end() ? nullptr : &it->second;
}

std::vector<std::string> AliasMap::ambiguous() const {
  std::vector<std::string> v;
  for (const auto& [k, e] : map_)
    if (e.ambiguous) v.push_back(k);
  std::sort(v.begin(), v.end());
  return v;
}

namespace {

// "double_blocks.7.img_attn.qkv" → 7 when `path` is `<head>.<N>.<tail>`; nullopt otherwise.
std::optional<std::string> block_index(std::string_view path, std::string_view head,
                                       std::string_view tail) {
  if (!path.starts_with(head) || !path.ends_with(tail) || path.size() <= head.size() + tail.size())
    return std::nullopt;
  std::string_view n = path.substr(head.size(), path.size() - head.size() - tail.size());
  if (n.empty() || !std::all_of(n.begin(), n.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::string(n);
}

// FLUX hidden width H: from the detected architecture, else from a single block's linear1 rows
// (3H + 4H).
uint64_t flux_hidden(const ModelView& m, const Binding& linear1) {
  if (m.arch.hidden) return m.arch.hidden;
  auto s = binding_shape(linear1, m);
  return s && !s->empty() ? (*s)[0] / 7 : 0;
}

bool is_norm_scale(std::string_view p) {
  return p.ends_with("query_norm.scale") || p.ends_with("key_norm.scale");
}

// Dk′ of §6.3: the attention-processor spelling of a diffusers UNet attention path.
std::optional<std::string> processor_form(std::string_view dk) {
  if (dk.find("attn") == std::string_view::npos) return std::nullopt;
  for (std::string_view leaf : {".to_q", ".to_k", ".to_v"})
    if (dk.ends_with(leaf))
      return std::string(dk.substr(0, dk.size() - leaf.size())) + ".processor" + std::string(leaf);
  if (dk.ends_with(".to_out.0"))
    return std::string(dk.substr(0, dk.size() - 9)) + ".processor.to_out";
  return std::nullopt;
}

void add_original(AliasMap& a, const ModulePath& mp, const ModelView& m) {
  const std::string& p = mp.path;
  const ComponentKind c = mp.component;
  const bool flux = m.arch.family == model::Family::Flux;
  const bool raw = is_norm_scale(p);
  a.add("lora_unet_" + flat(p), mp.binding, c, p);
  a.add("diffusion_model." + p, mp.binding, c, p, false, raw);
  a.add("base_model.model." + p, mp.binding, c, p);
  a.add("lycoris_" + flat(p), mp.binding, c, p);
  if (!flux) return;
  a.add(p, mp.binding, c, p, false, raw);  // BFL Control and XLabs write bare BFL names
  if (auto n = block_index(p, "single_blocks.", ".linear1")) {
    const uint64_t h = flux_hidden(m, mp.binding);
    if (auto qkv = h ? restrict_rows(mp.binding, 0, 3 * h, m) : std::nullopt) {
      a.add("diffusion_model.single_blocks." + *n + ".linear1_qkv", *qkv, c, p);
      a.add("single_blocks." + *n + ".processor.qkv_lora", *qkv, c, p, true);
    }
  }
  if (auto n = block_index(p, "single_blocks.", ".linear2"))
    a.add("single_blocks." + *n + ".processor.proj_lora", mp.binding, c, p, true);
  struct XLabsDouble {
    std::string_view tail, lora;
  };
  for (const auto& x : {XLabsDouble{".img_attn.qkv", ".processor.qkv_lora1"},
                        XLabsDouble{".txt_attn.qkv", ".processor.qkv_lora2"},
                        XLabsDouble{".img_attn.proj", ".processor.proj_lora1"},
                        XLabsDouble{".txt_attn.proj", ".processor.proj_lora2"}})
    if (auto n = block_index(p, "double_blocks.", x.tail))
      a.add("double_blocks." + *n + std::string(x.lora), mp.binding, c, p, true);
}

void add_diffusers(AliasMap& a, const ModulePath& mp, const ModelView& m) {
  const std::string& dk = mp.path;
  const ComponentKind c = mp.component;
  a.add("lycoris_" + flat(dk), mp.binding, c, dk);
  a.add("base_model.model." + dk, mp.binding, c, dk);
  if (m.is_sd_unet()) {
    a.add("lora_unet_" + flat(dk), mp.binding, c, dk);
    a.add("unet." + dk, mp.binding, c, dk);
    a.add(dk, mp.binding, c, dk);
    if (auto pf = processor_form(dk)) {
      a.add("unet." + *pf, mp.binding, c, dk);
      a.add(*pf, mp.binding, c, dk);
    }
  } else if (m.is_dit()) {
    a.add("lora_transformer_" + flat(dk), mp.binding, c, dk);
    a.add("transformer." + dk, mp.binding, c, dk);
  }
}

// ComfyUI's text-encoder slot names are the model layer's component names; other components
// have no such slot.
std::string_view comfy_name(ComponentKind k) {
  if (k == ComponentKind::DiffusionModel || k == ComponentKind::Vae) return "";
  return model::component_name(k);
}

// Which CLIP component each kohya / diffusers text-encoder prefix names on this model (§6.3).
struct TeRules {
  std::optional<ComponentKind> te, te1, te2, prior_te;  // te also serves `text_encoder.`
  std::vector<int> t5_numbers;                          // n of `lora_te{n}_` for T5
};

TeRules te_rules(const ModelView& m) {
  const bool l = m.has_component(ComponentKind::ClipL);
  const bool h = m.has_component(ComponentKind::ClipH);
  const bool g = m.has_component(ComponentKind::ClipG);
  TeRules r;
  if (l)
    r.te = ComponentKind::ClipL;
  else if (h)
    r.te = ComponentKind::ClipH;
  else if (g)
    r.te = ComponentKind::ClipG;  // SDXL refiner (§13.6)
  if (l)
    r.te1 = ComponentKind::ClipL;
  else if (h)
    r.te1 = ComponentKind::ClipH;
  if (g && l) r.te2 = ComponentKind::ClipG;
  if (g && !l) r.prior_te = ComponentKind::ClipG;
  const int n = 1 + (g ? 1 : 0) + (l ? 1 : 0);
  r.t5_numbers = {n};
  if (l && !g) r.t5_numbers = {2, 3};  // FLUX: OneTrainer writes lora_te2_, kohya lora_te3_
  return r;
}

void add_clip(AliasMap& a, const ModulePath& mp, const TeRules& r) {
  const std::string& hpath = mp.path;
  const ComponentKind c = mp.component;
  const std::string f = flat(hpath);
  if (r.te == c) {
    a.add("lora_te_" + f, mp.binding, c, hpath);
    a.add("text_encoder." + hpath, mp.binding, c, hpath);
  }
  if (r.te1 == c) a.add("lora_te1_" + f, mp.binding, c, hpath);
  if (r.te2 == c) {
    a.add("lora_te2_" + f, mp.binding, c, hpath);
    a.add("text_encoder_2." + hpath, mp.binding, c, hpath);
  }
  if (r.prior_te == c) a.add("lora_prior_te_" + f, mp.binding, c, hpath);
  a.add("text_encoders." + std::string(comfy_name(c)) + ".transformer." + hpath, mp.binding, c,
        hpath);
}

void add_t5(AliasMap& a, const ModulePath& mp, const TeRules& r) {
  const std::string f = flat(mp.path);
  for (int n : r.t5_numbers)
    a.add("lora_te" + std::to_string(n) + "_" + f, mp.binding, mp.component, mp.path);
  a.add("text_encoders.t5xxl.transformer." + mp.path, mp.binding, mp.component, mp.path);
}

}  // namespace

AliasMap build_alias_map(const ModelView& m) {
  AliasMap a;
  const TeRules te = te_rules(m);
  for (const ModulePath& mp : m.paths) {
    switch (mp.component) {
      case ComponentKind::DiffusionModel:
        if (mp.naming == Naming::Original)
          add_original(a, mp, m);
        else if (mp.naming == Naming::Diffusers)
          add_diffusers(a, mp, m);
        break;
      case ComponentKind::ClipL:
      case ComponentKind::ClipH:
      case ComponentKind::ClipG:
        if (mp.naming == Naming::HfClip) add_clip(a, mp, te);
        break;
      case ComponentKind::T5xxl:
        if (mp.naming == Naming::HfT5) add_t5(a, mp, te);
        break;
      case ComponentKind::Vae:
        break;  // VAE adapters are unsupported in v1 (§13.11)
    }
  }
  return a;
}

}  // namespace lorakit::adapter::detail
