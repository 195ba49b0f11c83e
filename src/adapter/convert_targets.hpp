// The naming families `convert` writes (lora-formats.md §4.1, §6.3): which module paths of the
// model each family names, with which prefix, and which suffix each factor role gets. The converter
// and the generated support matrix (docs/formats.md) both read these tables, so the doc cannot
// drift from what the code does.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "adapter/model_view.hpp"
#include "adapter/suffixes.hpp"
#include "lorakit/adapter.hpp"

namespace lorakit::adapter::detail {

// Which text-encoder slot a component fills on a model; kohya and diffusers name slots, not kinds.
enum class TeSlot {
  None,  // not a text encoder
  Te,    // the only CLIP of SD1/SD2, or bigG of the SDXL refiner
  Te1,   // CLIP-L (or ViT-H) beside another encoder
  Te2,   // bigG beside CLIP-L
  T5,    // T5-XXL
};
TeSlot te_slot(const ModelView& m, model::ComponentKind c);

// One prefix rule: module paths of `naming` in the diffusion model of the listed families (or in a
// text-encoder slot) are written as `head` + path (flattened when `flatten`).
struct PrefixRule {
  TargetFamily family;
  model::ComponentKind component;  // DiffusionModel, or any text encoder (ClipL stands for all)
  TeSlot slot;                     // text encoders only
  std::span<const model::Family> archs;  // diffusion model only
  model::Naming naming;
  std::string_view head;  // "{comp}" is replaced by the ComfyUI component name
  bool flatten;
};
std::span<const PrefixRule> prefix_rules();

struct FamilyInfo {
  TargetFamily family;
  std::string_view name;         // command-line spelling: "kohya", "peft", "diffusers", "bfl"
  std::string_view description;  // for the doc
  SuffixFamily lora;             // the down/up suffix family of LoRA records
  SuffixFamily lora_te;          // the same for text-encoder records
  bool lycoris_kinds;            // writes LoHa, LoKr, … with their LyCORIS suffixes
};
std::span<const FamilyInfo> families();
const FamilyInfo& family_info(TargetFamily f);
std::optional<TargetFamily> family_from_name(std::string_view name);

// The prefix a module path gets in family `f` on model `m`; nullopt when the family has no name for
// it (another naming, or a component the family does not name).
std::optional<std::string> target_prefix(TargetFamily f, const model::ModulePath& p,
                                         const ModelView& m);

// The suffix of factor `role` (Module::factors / bias role, or "alpha", "dora_scale",
// "lora_magnitude_vector", "reshape_weight") for a record of kind `k` in family `f`; nullopt when
// the family cannot hold it. `text_encoder` picks the LoRA suffix family of text-encoder records.
std::optional<std::string_view> target_suffix(TargetFamily f, Kind k, std::string_view role,
                                              bool text_encoder);

// Whether family `f` can write records of kind `k` at all, and why not.
std::optional<std::string> kind_refusal(TargetFamily f, Kind k);

}  // namespace lorakit::adapter::detail
