#include "adapter/convert_targets.hpp"

#include <array>

#include "adapter/key_grammar.hpp"

namespace lorakit::adapter::detail {

using model::ComponentKind;
using model::Family;
using model::Naming;

namespace {

constexpr std::array kSdUnet1{Family::SD1, Family::SD2};
constexpr std::array kSgmDit{Family::SDXL, Family::SD3, Family::Flux};
constexpr std::array kSdUnets{Family::SD1, Family::SD2, Family::SDXL};
constexpr std::array kDits{Family::SD3, Family::Flux};
constexpr std::array kAll{Family::SD1, Family::SD2, Family::SDXL, Family::SD3, Family::Flux};

using TF = TargetFamily;
constexpr auto DM = ComponentKind::DiffusionModel;
constexpr auto TE = ComponentKind::ClipL;  // any text encoder, told apart by slot

// First matching rule wins. Diffusion-model rules name the naming the family is read in (§6.3);
// kohya SD1/SD2 files use diffusers names flattened, every later kohya file the original ones.
constexpr std::array kRules{
    PrefixRule{TF::Kohya, DM, TeSlot::None, kSdUnet1, Naming::Diffusers, "lora_unet_", true},
    PrefixRule{TF::Kohya, DM, TeSlot::None, kSgmDit, Naming::Original, "lora_unet_", true},
    PrefixRule{TF::Kohya, TE, TeSlot::Te, {}, Naming::HfClip, "lora_te_", true},
    PrefixRule{TF::Kohya, TE, TeSlot::Te1, {}, Naming::HfClip, "lora_te1_", true},
    PrefixRule{TF::Kohya, TE, TeSlot::Te2, {}, Naming::HfClip, "lora_te2_", true},
    // sd-scripts numbers T5 after the CLIPs: lora_te3_ on SD3 and FLUX (§6.3).
    PrefixRule{TF::Kohya, TE, TeSlot::T5, {}, Naming::HfT5, "lora_te3_", true},
    PrefixRule{TF::Peft, DM, TeSlot::None, kSdUnets, Naming::Diffusers, "unet.", false},
    PrefixRule{TF::Peft, DM, TeSlot::None, kDits, Naming::Diffusers, "transformer.", false},
    PrefixRule{TF::Peft, TE, TeSlot::Te, {}, Naming::HfClip, "text_encoder.", false},
    PrefixRule{TF::Peft, TE, TeSlot::Te1, {}, Naming::HfClip, "text_encoder.", false},
    PrefixRule{TF::Peft, TE, TeSlot::Te2, {}, Naming::HfClip, "text_encoder_2.", false},
    PrefixRule{TF::Diffusers, DM, TeSlot::None, kSdUnets, Naming::Diffusers, "unet.", false},
    PrefixRule{TF::Diffusers, DM, TeSlot::None, kDits, Naming::Diffusers, "transformer.", false},
    PrefixRule{TF::Diffusers, TE, TeSlot::Te, {}, Naming::HfClip, "text_encoder.", false},
    PrefixRule{TF::Diffusers, TE, TeSlot::Te1, {}, Naming::HfClip, "text_encoder.", false},
    PrefixRule{TF::Diffusers, TE, TeSlot::Te2, {}, Naming::HfClip, "text_encoder_2.", false},
    PrefixRule{TF::Bfl, DM, TeSlot::None, kAll, Naming::Original, "diffusion_model.", false},
    PrefixRule{
        TF::Bfl, TE, TeSlot::Te, {}, Naming::HfClip, "text_encoders.{comp}.transformer.", false},
    PrefixRule{
        TF::Bfl, TE, TeSlot::Te1, {}, Naming::HfClip, "text_encoders.{comp}.transformer.", false},
    PrefixRule{
        TF::Bfl, TE, TeSlot::Te2, {}, Naming::HfClip, "text_encoders.{comp}.transformer.", false},
    PrefixRule{
        TF::Bfl, TE, TeSlot::T5, {}, Naming::HfT5, "text_encoders.{comp}.transformer.", false},
};

constexpr std::array kFamilies{
    FamilyInfo{TF::Kohya, "kohya", "sd-scripts / LyCORIS (`lora_unet_`, `lora_te*_`)",
               SuffixFamily::Kohya, SuffixFamily::Kohya, true},
    FamilyInfo{TF::Peft, "peft", "diffusers PEFT (`unet.`, `transformer.`, `text_encoder*.`)",
               SuffixFamily::Peft, SuffixFamily::Peft, false},
    FamilyInfo{TF::Diffusers, "diffusers",
               "diffusers non-PEFT (`.lora.down`, text encoders `.lora_linear_layer.down`)",
               SuffixFamily::DiffusersLora, SuffixFamily::LinearLayer, false},
    FamilyInfo{
        TF::Bfl, "bfl",
        "ComfyUI generic / BFL layout (`diffusion_model.`, `text_encoders.<comp>.transformer.`)",
        SuffixFamily::Peft, SuffixFamily::Peft, true},
};

// ComfyUI's text-encoder slot names are the model layer's component names; other components
// have no such slot.
std::string_view comfy_component(ComponentKind k) {
  if (k == ComponentKind::DiffusionModel || k == ComponentKind::Vae) return "";
  return model::component_name(k);
}

WeightType weight_type(Kind k) {
  switch (k) {
    case Kind::LoRA:
      return WeightType::LoRA;
    case Kind::LoHa:
      return WeightType::LoHa;
    case Kind::LoKr:
      return WeightType::LoKr;
    case Kind::GLoRA:
      return WeightType::GLoRA;
    case Kind::OFT:
    case Kind::BOFT:
      return WeightType::OFT;
    case Kind::IA3:
      return WeightType::IA3;
    case Kind::Full:
      return WeightType::Full;
    case Kind::Norm:
      return WeightType::Norm;
    case Kind::Set:
      return WeightType::Set;
  }
  return WeightType::None;
}

}  // namespace

TeSlot te_slot(const ModelView& m, ComponentKind c) {
  const bool l = m.has_component(ComponentKind::ClipL);
  const bool h = m.has_component(ComponentKind::ClipH);
  const bool sd = m.arch.family == Family::SD1 || m.arch.family == Family::SD2;
  switch (c) {
    case ComponentKind::ClipL:
    case ComponentKind::ClipH:
      return sd ? TeSlot::Te : TeSlot::Te1;
    case ComponentKind::ClipG:
      return l ? TeSlot::Te2 : h ? TeSlot::None : TeSlot::Te;
    case ComponentKind::T5xxl:
      return TeSlot::T5;
    default:
      return TeSlot::None;
  }
}

std::span<const PrefixRule> prefix_rules() { return kRules; }
std::span<const FamilyInfo> families() { return kFamilies; }

const FamilyInfo& family_info(TargetFamily f) {
  for (const auto& i : kFamilies)
    if (i.family == f) return i;
  return kFamilies[0];
}

std::optional<TargetFamily> family_from_name(std::string_view name) {
  for (const auto& i : kFamilies)
    if (i.name == name) return i.family;
  return std::nullopt;
}

std::optional<std::string> target_prefix(TargetFamily f, const model::ModulePath& p,
                                         const ModelView& m) {
  const bool dm = p.component == DM;
  if (!dm && p.component == ComponentKind::Vae) return std::nullopt;
  const TeSlot slot = dm ? TeSlot::None : te_slot(m, p.component);
  for (const PrefixRule& r : kRules) {
    if (r.family != f || r.naming != p.naming || (r.component == DM) != dm) continue;
    if (dm) {
      bool arch = false;
      for (Family a : r.archs) arch = arch || a == m.arch.family;
      if (!arch) continue;
    } else if (r.slot != slot) {
      continue;
    }
    std::string head(r.head);
    if (auto at = head.find("{comp}"); at != std::string::npos)
      head.replace(at, 6, comfy_component(p.component));
    return head + (r.flatten ? flat(p.path) : p.path);
  }
  return std::nullopt;
}

std::optional<std::string> kind_refusal(TargetFamily f, Kind k) {
  const FamilyInfo& i = family_info(f);
  if (k == Kind::LoRA || i.lycoris_kinds) return std::nullopt;
  return std::string(i.name) + " files hold LoRA records only (no " + std::string(kind_name(k)) +
         " keys); use --to kohya or --to bfl";
}

std::optional<std::string_view> target_suffix(TargetFamily f, Kind k, std::string_view role,
                                              bool text_encoder) {
  const FamilyInfo& i = family_info(f);
  const SuffixFamily pair = text_encoder ? i.lora_te : i.lora;
  const WeightType wt = weight_type(k);
  for (const Suffix& s : all_suffixes()) {
    if (s.role != role || s.family == SuffixFamily::Raw || s.family == SuffixFamily::Unsupported)
      continue;
    if (s.family == SuffixFamily::Generic) return s.text;
    if (k == Kind::LoRA) {
      if (s.family == pair) return s.text;
      if (s.family == SuffixFamily::PeftExtra && is_peft_family(pair)) return s.text;
    } else if (s.type == wt && s.family != SuffixFamily::PeftExtra) {
      return s.text;
    }
  }
  return std::nullopt;
}

}  // namespace lorakit::adapter::detail
