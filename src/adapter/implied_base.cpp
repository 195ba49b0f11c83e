#include "adapter/implied_base.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace lorakit::adapter::detail {

namespace {

bool contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

// Does `name` end with `leaf` at a '.' or '_' boundary?
bool leaf_is(std::string_view name, std::string_view leaf) {
  if (!name.ends_with(leaf)) return false;
  if (name.size() == leaf.size()) return true;
  const char c = name[name.size() - leaf.size() - 1];
  return c == '.' || c == '_';
}

bool any_leaf(std::string_view name, std::initializer_list<std::string_view> leaves) {
  return std::any_of(leaves.begin(), leaves.end(), [&](auto l) { return leaf_is(name, l); });
}

std::optional<std::string_view> strip_head(std::string_view p,
                                           std::initializer_list<std::string_view> heads) {
  for (std::string_view h : heads)
    if (p.starts_with(h)) return p.substr(h.size());
  return std::nullopt;
}

struct Vote {
  ImpliedBase::Basis basis;
  std::string family;
  uint64_t width;
};

std::optional<Vote> vote_of(const RecordWidth& r) {
  const std::string_view p = r.prefix;
  const uint64_t w = r.in_width;
  if (w == 0) return std::nullopt;
  using B = ImpliedBase::Basis;
  // SD UNet cross-attention to_k / to_v: the context width (InvokeAI's widths, §3.4).
  const bool unet = contains(p, "down_blocks") || contains(p, "up_blocks") ||
                    contains(p, "mid_block") || contains(p, "input_blocks") ||
                    contains(p, "output_blocks") || contains(p, "middle_block");
  if (unet) {
    if (!any_leaf(p, {"attn2_to_k", "attn2.to_k", "attn2_to_v", "attn2.to_v",
                      "attn2.processor.to_k", "attn2.processor.to_v"}))
      return std::nullopt;
    switch (w) {
      case 768:
        return Vote{B::CrossAttention, "sd1", w};
      case 1024:
        return Vote{B::CrossAttention, "sd2", w};
      case 2048:
        return Vote{B::CrossAttention, "sdxl", w};
      case 1280:
        return Vote{B::CrossAttention, "sdxl-refiner", w};
      default:
        return std::nullopt;
    }
  }
  // DiT attention inputs: the hidden width. Original names are only read under the heads that
  // carry them, diffusers names only under theirs, so that other architectures that reuse
  // `transformer_blocks` under a bare or `lora_unet_` head do not pass for FLUX or SD3.
  const bool attn_in =
      any_leaf(p, {"qkv", "linear1", "linear1_qkv", "qkv_lora", "qkv_lora1", "qkv_lora2", "to_q",
                   "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"});
  if (!attn_in) return std::nullopt;
  if (auto rest =
          strip_head(p, {"lora_unet_", "diffusion_model.", "base_model.model.", "lycoris_", ""})) {
    if (rest->starts_with("double_blocks") || rest->starts_with("single_blocks"))
      return w == 3072 ? std::optional<Vote>(Vote{B::DitHidden, "flux", w}) : std::nullopt;
    if (rest->starts_with("joint_blocks"))
      return w % 64 == 0 ? std::optional<Vote>(Vote{B::DitHidden, "sd3", w}) : std::nullopt;
  }
  if (auto rest =
          strip_head(p, {"transformer.", "lora_transformer_", "lycoris_", "base_model.model."})) {
    if (rest->starts_with("single_transformer_blocks"))
      return w == 3072 ? std::optional<Vote>(Vote{B::DitHidden, "flux", w}) : std::nullopt;
    if (rest->starts_with("transformer_blocks")) {
      if (w == 3072) return Vote{B::DitHidden, "flux", w};
      if (w % 64 == 0) return Vote{B::DitHidden, "sd3", w};
    }
  }
  return std::nullopt;
}

// Text-encoder records, used only when nothing in the diffusion model says more. Only widths that
// name one family count: ViT-H (1024) is SD2's alone; CLIP-L (768) under kohya's single-encoder
// `lora_te_` is SD1 (SDXL, SD3 and FLUX files write `lora_te1_` for their CLIP-L).
std::optional<Vote> te_vote(const RecordWidth& r) {
  const std::string_view p = r.prefix;
  // HF CLIP names only (`text_model.encoder.layers.N`); other encoders (Qwen3, T5) say nothing.
  if (!any_leaf(p, {"q_proj", "k_proj", "v_proj", "fc1"}) || !contains(p, "text_model"))
    return std::nullopt;
  using B = ImpliedBase::Basis;
  if (r.in_width == 768 && p.starts_with("lora_te_")) return Vote{B::TextEncoder, "sd1", 768};
  if (r.in_width == 1024 &&
      (p.starts_with("lora_te_") || p.starts_with("lora_te1_") || p.starts_with("text_encoder.")))
    return Vote{B::TextEncoder, "sd2", 1024};
  return std::nullopt;
}

std::string detail_of(const Vote& v) {
  switch (v.basis) {
    case ImpliedBase::Basis::CrossAttention:
      return fmt::format("cross-attention dim {}", v.width);
    case ImpliedBase::Basis::DitHidden:
      return fmt::format("hidden {}", v.width);
    case ImpliedBase::Basis::TextEncoder:
      return fmt::format("text-encoder width {}", v.width);
    case ImpliedBase::Basis::None:
      break;
  }
  return {};
}

}  // namespace

ImpliedBase implied_base(const std::vector<RecordWidth>& records) {
  std::vector<Vote> votes;
  for (const auto& r : records)
    if (auto v = vote_of(r)) votes.push_back(*v);
  if (votes.empty())
    for (const auto& r : records)
      if (auto v = te_vote(r)) votes.push_back(*v);
  ImpliedBase b;
  if (votes.empty()) return b;
  // The most frequent (family, width) wins; ties go to the first seen.
  std::map<std::pair<std::string, uint64_t>, size_t> count;
  std::vector<std::pair<std::string, uint64_t>> order;
  for (const auto& v : votes)
    if (count[{v.family, v.width}]++ == 0) order.push_back({v.family, v.width});
  auto best = order.front();
  for (const auto& k : order)
    if (count[k] > count[best]) best = k;
  const Vote& win = *std::find_if(votes.begin(), votes.end(), [&](const Vote& v) {
    return v.family == best.first && v.width == best.second;
  });
  b.basis = win.basis;
  b.trained_for = win.family;
  b.width = win.width;
  b.detail = detail_of(win);
  if (order.size() > 1) {
    std::vector<std::string> all;
    for (const auto& k : order)
      all.push_back(fmt::format("{} ({}, {} records)", k.first, k.second, count[k]));
    b.warning = fmt::format("records imply different bases: {}", fmt::join(all, ", "));
  }
  return b;
}

std::string model_base_name(const ModelView& m) {
  // The family's own name, except that the SDXL refiner is a base of its own (other widths).
  if (m.arch.family == model::Family::SDXL && m.arch.variant == "sdxl-refiner") return "sdxl-refiner";
  return std::string(model::family_name(m.arch.family));
}

uint64_t model_base_width(const ModelView& m) {
  return m.is_sd_unet() ? m.arch.context_dim : m.arch.hidden;
}

std::string compat_error(const ImpliedBase& b, const ModelView& m, std::string_view file_name,
                         uint64_t matched, uint64_t modules) {
  using B = ImpliedBase::Basis;
  if (b.basis == B::None) return {};
  const std::string model_name = model_base_name(m);
  const uint64_t model_width = model_base_width(m);
  bool agree = true;
  switch (b.basis) {
    case B::CrossAttention: {
      const bool same_family =
          m.is_sd_unet() && (b.trained_for == model_name ||
                             (b.trained_for.starts_with("sdxl") && model_name.starts_with("sdxl")));
      agree = same_family && (model_width == 0 || model_width == b.width);
      break;
    }
    case B::DitHidden:
      agree = b.trained_for == model_name && (model_width == 0 || model_width == b.width);
      break;
    case B::TextEncoder: {
      // A CLIP-L text-encoder adapter suits every family that has CLIP-L; only contradict when the
      // model has text encoders and none of them has this width.
      bool has_te = false, width_found = false;
      for (const auto& c : m.components) {
        if (c.kind == model::ComponentKind::DiffusionModel || c.kind == model::ComponentKind::Vae)
          continue;
        has_te = true;
        if (c.width == 0 || c.width == b.width) width_found = true;
      }
      agree = !has_te || width_found;
      break;
    }
    case B::None:
      break;
  }
  if (agree) return {};
  const std::string model_part =
      model_width ? fmt::format("{} ({})", model_name, model_width) : model_name;
  return fmt::format("{}: trained for {} ({}), model is {}: {} of {} modules match", file_name,
                     b.trained_for, b.detail, model_part, matched, modules);
}

}  // namespace lorakit::adapter::detail
