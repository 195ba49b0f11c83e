#include "adapter/convert_matrix.hpp"

#include <fmt/format.h>

#include <array>

#include "adapter/convert_targets.hpp"

namespace lorakit::adapter::detail {

namespace {

constexpr std::array kKinds{Kind::LoRA, Kind::LoHa, Kind::LoKr, Kind::GLoRA, Kind::OFT,
                            Kind::BOFT, Kind::IA3,  Kind::Full, Kind::Norm,  Kind::Set};

// Factor roles of each kind, in the order the doc lists them.
std::vector<std::string_view> roles(Kind k) {
  switch (k) {
    case Kind::LoRA:
      return {"down",        "up",    "mid", "alpha", "dora_scale", "lora_magnitude_vector",
              "lora_B.bias", "diff_b"};
    case Kind::LoHa:
      return {"w1a", "w1b", "w2a", "w2b", "t1", "t2", "alpha", "dora_scale"};
    case Kind::LoKr:
      return {"w1", "w1a", "w1b", "w2", "w2a", "w2b", "t2", "alpha"};
    case Kind::GLoRA:
      return {"a1", "a2", "b1", "b2", "alpha"};
    case Kind::OFT:
    case Kind::BOFT:
      return {"blocks", "rescale", "alpha"};
    case Kind::IA3:
      return {"weight", "on_input"};
    case Kind::Full:
      return {"diff", "diff_b"};
    case Kind::Norm:
      return {"w_norm", "b_norm"};
    case Kind::Set:
      return {"set"};
  }
  return {};
}

std::string_view naming_name(model::Naming n) {
  switch (n) {
    case model::Naming::Original:
      return "original (LDM/SGM/MMDiT/BFL)";
    case model::Naming::Diffusers:
      return "diffusers";
    case model::Naming::HfClip:
      return "HF CLIP";
    case model::Naming::HfT5:
      return "HF T5";
    case model::Naming::OpenClip:
      return "OpenCLIP";
    case model::Naming::Vae:
      return "VAE";
  }
  return "";
}

std::string_view slot_name(TeSlot s) {
  switch (s) {
    case TeSlot::Te:
      return "the only CLIP (SD1/SD2), bigG of the SDXL refiner";
    case TeSlot::Te1:
      return "CLIP-L (SDXL, SD3, FLUX)";
    case TeSlot::Te2:
      return "CLIP-G beside CLIP-L (SDXL, SD3)";
    case TeSlot::T5:
      return "T5-XXL (SD3, FLUX)";
    case TeSlot::None:
      return "";
  }
  return "";
}

std::string cell(TargetFamily f, Kind k, bool te) {
  if (auto why = kind_refusal(f, k)) return "refused";
  std::string s;
  for (std::string_view role : roles(k)) {
    auto suffix = target_suffix(f, k, role, te);
    if (!suffix) continue;
    if (!s.empty()) s += " ";
    s += fmt::format("`{}`", *suffix);
  }
  return s;
}

}  // namespace

std::string support_matrix_markdown() {
  std::string o;
  o += "# Conversion support matrix\n\n";
  o += "<!-- Generated from src/adapter/convert_targets.cpp and the suffix table by "
       "convert_matrix.cpp; do not edit. Regenerate with\n"
       "     LORAKIT_UPDATE_DOCS=1 lorakit_tests --gtest_filter='ConvertMatrix.*' -->\n\n";
  o +=
      "`lorakit convert ADAPTER --to FAMILY (--model MODEL | --arch NAME) -o OUT` rewrites a bound "
      "adapter in another naming family. Factor bytes are copied unchanged (same dtype, same "
      "bytes), `.alpha` keys are copied, metadata is carried over with `lorakit.converted_from` "
      "and `lorakit.converted_to` added, and the output is written atomically. Records that "
      "cannot be written exactly are refused, naming the record and the reason; nothing is "
      "written then. Keys the parse could not bind are refused too (converting would drop "
      "them).\n\n";

  o += "## Families\n\n| family | what it is | LoRA suffixes | text-encoder LoRA suffixes |\n"
       "|---|---|---|---|\n";
  for (const FamilyInfo& f : families())
    o += fmt::format("| `{}` | {} | {} | {} |\n", f.name, f.description,
                     cell(f.family, Kind::LoRA, false), cell(f.family, Kind::LoRA, true));

  o += "\n## Prefixes\n\nA record is written under the name its binding has in the family's "
       "naming; the first matching row applies. Components or architectures with no row have no "
       "name in that family (such records are refused).\n\n"
       "| family | component | architectures | module path naming | prefix "
       "|\n|---|---|---|---|---|\n";
  for (const PrefixRule& r : prefix_rules()) {
    std::string archs;
    for (model::Family a : r.archs)
      archs += (archs.empty() ? "" : ", ") + std::string(model::family_name(a));
    const bool dm = r.component == model::ComponentKind::DiffusionModel;
    o += fmt::format("| `{}` | {} | {} | {} | `{}` + {} |\n", family_info(r.family).name,
                     dm ? "diffusion model" : fmt::format("text encoder: {}", slot_name(r.slot)),
                     dm ? archs : "all", naming_name(r.naming), r.head,
                     r.flatten ? "flat(path)" : "path");
  }

  o += "\n## Adapter types\n\nSuffixes written per adapter type (diffusion-model records; "
       "text-encoder LoRA records use the text-encoder suffixes above).\n\n| type |";
  for (const FamilyInfo& f : families()) o += fmt::format(" `{}` |", f.name);
  o += "\n|---|";
  for (size_t i = 0; i < families().size(); ++i) o += "---|";
  o += "\n";
  for (Kind k : kKinds) {
    o += fmt::format("| {} |", kind_name(k));
    for (const FamilyInfo& f : families()) o += fmt::format(" {} |", cell(f.family, k, false));
    o += "\n";
  }
  o += "\nRefused: ";
  for (const FamilyInfo& f : families())
    if (auto why = kind_refusal(f.family, Kind::LoHa)) o += fmt::format("{}. ", *why);
  o += "A suffix missing from a cell (e.g. `.lora_mid.weight` outside kohya, PEFT extras outside "
       "the PEFT suffix family) means records carrying that key are refused for that family.\n";

  o += R"(
## Fused and split modules

- **Rename**: the target names exactly the record's rows. `swap_scale_shift` between the two names
  (FLUX/SD3 final modulation ↔ diffusers `norm_out.linear`) swaps the two row halves of B (and of
  bias deltas), never A; a transposed pair (OpenCLIP `text_projection` ↔ HF) writes
  up′ = downᵀ and down′ = upᵀ. Both are byte permutations.
- **Split** (a fused record such as BFL `img_attn.qkv` or `linear1` to a family that names the
  parts, §7.2): A is copied to every part and B split by rows. When B is block-diagonal over equal
  column chunks (exact zero bytes elsewhere) and the alpha divided by the part count is exact in
  its dtype, each part instead gets its own chunk of A and its diagonal block of B (the sparse
  case). A part whose B rows and bias rows are all zero bytes is a missing part and is not
  written (unless every part is zero). LoRA only: DoRA, Tucker, LoHa, LoKr, GLoRA, OFT, (IA)³,
  full and records with `lora_A.bias` or `reshape_weight` are refused.
- **Fuse** (separate parts to a family that names only the fused module, §7.3): parts that share
  byte-identical A, rank and alpha give A once and B stacked by rows; parts with equal rank and
  alpha give A stacked and B block-diagonal, with alpha multiplied by the part count (written
  only when exact in the alpha's dtype) so that γ is unchanged. Missing parts are zero rows.
  Parts with different ranks or alphas are refused (fusing them would rescale factor bytes).
- Round trips between any two families are byte-identical in tensor data; alphas that came
  from PEFT `lora_adapter_metadata` are written as `.alpha` keys (F32).
)";
  return o;
}

}  // namespace lorakit::adapter::detail
