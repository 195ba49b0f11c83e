// Alias generation (lora-formats.md §6.3) on real base layouts: which templates exist for which
// architecture and component, and that no alias of a real model is ambiguous.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "adapter/alias_map.hpp"
#include "adapter/key_grammar.hpp"
#include "adapter_fixtures.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::testing {
namespace {

using adapter::detail::AliasMap;
using adapter::detail::build_alias_map;
using adapter::detail::ModelView;

constexpr const char* kSd1 = "arenasys_assembled_sd15_ldm_full.txt";
constexpr const char* kSd2 = "arenasys_assembled_sd21_ldm_full.txt";
constexpr const char* kSdxl = "arenasys_assembled_sdxl_base_ldm_full.txt";
constexpr const char* kSd3 = "sdmecha_sd3_comfyui.txt";
constexpr const char* kSd35 = "invokeai_sd35_large_full_checkpoint.txt";
constexpr const char* kFlux = "sdmecha_flux_flux.txt";
constexpr const char* kFluxBfl = "sdmecha_flux_dev_bfl_transformer_only.txt";

AliasMap aliases(const model::ModelIndex& m) { return build_alias_map(ModelView::of(m)); }

std::string target(const AliasMap& a, const std::string& alias) {
  const auto* e = a.find(alias);
  if (!e) return "<none>";
  std::string s;
  for (const auto& p : e->binding.parts) {
    if (!s.empty()) s += " + ";
    s += p.tensor;
    if (p.rows) s += fmt::format("[{}:{}]", p.rows->begin, p.rows->end);
  }
  return s;
}

// The SDXL refiner as stored: SGM UNet plus bigG alone at conditioner.embedders.0.model. (§2.2).
const model::ModelIndex& refiner() {
  static const model::ModelIndex m = [] {
    std::vector<model::TensorMeta> t;
    for (auto x : corpus_tensors("arenasys_toolkit_component_UNET-XL-Refiner.txt")) {
      x.name = "model.diffusion_model." + x.name;
      t.push_back(std::move(x));
    }
    for (auto x : corpus_tensors("arenasys_toolkit_component_CLIP-XL-SD.txt")) {
      x.name = "conditioner.embedders.0.model." + x.name;
      t.push_back(std::move(x));
    }
    return model::ModelIndex::from_tensors("refiner", std::move(t));
  }();
  return m;
}

TEST(AdapterAlias, RealModelsHaveNoAmbiguousAliases) {
  for (const char* base : {kSd1, kSd2, kSdxl, kSd3, kSd35, kFlux, kFluxBfl}) {
    const AliasMap a = aliases(corpus_base(base));
    EXPECT_GT(a.size(), 1000u) << base;
    EXPECT_EQ(a.ambiguous(), std::vector<std::string>{}) << base;
  }
  EXPECT_EQ(aliases(refiner()).ambiguous(), std::vector<std::string>{});
}

TEST(AdapterAlias, SdUnetTemplates) {
  const AliasMap a = aliases(corpus_base(kSd1));
  const std::string to_q =
      "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
  const std::string dk = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
  const std::string p = "input_blocks.1.1.transformer_blocks.0.attn1.to_q";
  for (const std::string& alias :
       {"lora_unet_" + adapter::detail::flat(p), "diffusion_model." + p, "base_model.model." + p,
        "lycoris_" + adapter::detail::flat(p), "lora_unet_" + adapter::detail::flat(dk),
        "lycoris_" + adapter::detail::flat(dk), "unet." + dk, dk, "base_model.model." + dk,
        std::string("unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q"),
        std::string("down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q")})
    EXPECT_EQ(target(a, alias), to_q) << alias;
  // Not for SD UNets: bare original names, the OneTrainer and transformer. heads.
  EXPECT_EQ(target(a, p), "<none>");
  EXPECT_EQ(target(a, "lora_transformer_" + adapter::detail::flat(dk)), "<none>");
  EXPECT_EQ(target(a, "transformer." + dk), "<none>");
  // to_out.0 has the processor spelling `processor.to_out`.
  EXPECT_EQ(target(a, "down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_out"),
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_out.0.weight");
}

TEST(AdapterAlias, NoAliasForLayersTheModelLacks) {
  const AliasMap a = aliases(corpus_base(kSdxl));
  // SDXL has no attention on the first level and no fourth down level.
  EXPECT_EQ(target(a, "lora_unet_down_blocks_0_attentions_0_proj_in"), "<none>");
  EXPECT_EQ(target(a, "lora_unet_down_blocks_3_resnets_0_conv1"), "<none>");
  EXPECT_EQ(target(a, "lora_unet_down_blocks_1_attentions_0_proj_in"),
            "model.diffusion_model.input_blocks.4.1.proj_in.weight");
}

TEST(AdapterAlias, DitTemplates) {
  const AliasMap a = aliases(corpus_base(kFlux));
  const std::string qkv = "model.diffusion_model.double_blocks.3.img_attn.qkv.weight";
  for (const char* alias :
       {"lora_unet_double_blocks_3_img_attn_qkv", "diffusion_model.double_blocks.3.img_attn.qkv",
        "double_blocks.3.img_attn.qkv", "base_model.model.double_blocks.3.img_attn.qkv",
        "lycoris_double_blocks_3_img_attn_qkv", "double_blocks.3.processor.qkv_lora1"})
    EXPECT_EQ(target(a, alias), qkv) << alias;
  for (const char* alias :
       {"transformer.transformer_blocks.3.attn.to_v",
        "lora_transformer_transformer_blocks_3_attn_to_v", "lycoris_transformer_blocks_3_attn_to_v",
        "base_model.model.transformer_blocks.3.attn.to_v"})
    EXPECT_EQ(target(a, alias), qkv + "[6144:9216]") << alias;
  EXPECT_EQ(target(a, "diffusion_model.single_blocks.9.linear1_qkv"),
            "model.diffusion_model.single_blocks.9.linear1.weight[0:9216]");
  EXPECT_EQ(target(a, "single_blocks.9.processor.qkv_lora"),
            "model.diffusion_model.single_blocks.9.linear1.weight[0:9216]");
  // Diffusers names are not registered bare or under lora_unet_ for DiTs (§6.3).
  EXPECT_EQ(target(a, "transformer_blocks.3.attn.to_v"), "<none>");
  EXPECT_EQ(target(a, "lora_unet_transformer_blocks_3_attn_to_v"), "<none>");
  // Raw replacement only on bare / diffusion_model. norm scales.
  EXPECT_TRUE(a.find("double_blocks.3.img_attn.norm.key_norm.scale")->raw);
  EXPECT_TRUE(a.find("diffusion_model.double_blocks.3.img_attn.norm.key_norm.scale")->raw);
  EXPECT_FALSE(a.find("lora_unet_double_blocks_3_img_attn_norm_key_norm_scale")->raw);
  EXPECT_FALSE(a.find("double_blocks.3.img_attn.qkv")->raw);
  EXPECT_TRUE(a.find("double_blocks.3.processor.qkv_lora1")->xlabs);
  EXPECT_FALSE(a.find("double_blocks.3.img_attn.qkv")->xlabs);
}

TEST(AdapterAlias, TextEncoderPrefixRules) {
  const std::string q = "text_model.encoder.layers.0.self_attn.q_proj";
  const std::string fq = adapter::detail::flat(q);
  {  // SD1: CLIP-L only.
    const AliasMap a = aliases(corpus_base(kSd1));
    const std::string l = "cond_stage_model.transformer." + q + ".weight";
    EXPECT_EQ(target(a, "lora_te_" + fq), l);
    EXPECT_EQ(target(a, "lora_te1_" + fq), l);
    EXPECT_EQ(target(a, "text_encoder." + q), l);
    EXPECT_EQ(target(a, "text_encoders.clip_l.transformer." + q), l);
    EXPECT_EQ(target(a, "lora_te2_" + fq), "<none>");
  }
  {  // SDXL: lora_te_/te1_/text_encoder. CLIP-L, te2_/text_encoder_2. bigG, no prior_te.
    const AliasMap a = aliases(corpus_base(kSdxl));
    const std::string g =
        "conditioner.embedders.1.model.transformer.resblocks.0.attn.in_proj_weight";
    EXPECT_EQ(target(a, "lora_te_" + fq), "conditioner.embedders.0.transformer." + q + ".weight");
    EXPECT_EQ(target(a, "lora_te2_" + fq), g + "[0:1280]");
    EXPECT_EQ(target(a, "text_encoder_2." + q), g + "[0:1280]");
    EXPECT_EQ(target(a, "lora_prior_te_" + fq), "<none>");
  }
  {  // Refiner: bigG alone is what lora_te_ and lora_prior_te_ name (§13.6).
    const AliasMap a = aliases(refiner());
    const std::string g =
        "conditioner.embedders.0.model.transformer.resblocks.0.attn.in_proj_weight";
    EXPECT_EQ(target(a, "lora_te_" + fq), g + "[0:1280]");
    EXPECT_EQ(target(a, "lora_prior_te_" + fq), g + "[0:1280]");
    EXPECT_EQ(target(a, "lora_te1_" + fq), "<none>");
    EXPECT_EQ(target(a, "lora_te2_" + fq), "<none>");
  }
  {  // SD2: ViT-H behind lora_te_ and lora_te1_.
    const AliasMap a = aliases(corpus_base(kSd2));
    const std::string h = "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight";
    EXPECT_EQ(target(a, "lora_te_" + fq), h + "[0:1024]");
    EXPECT_EQ(target(a, "lora_te1_" + fq), h + "[0:1024]");
  }
}

TEST(AdapterAlias, T5Numbering) {
  const std::string t5 = "encoder_block_0_layer_0_SelfAttention_q";
  {  // FLUX: CLIP-L and T5, no bigG: both lora_te2_ and lora_te3_.
    const AliasMap a = aliases(corpus_base(kFlux));
    const std::string w =
        "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q.weight";
    EXPECT_EQ(target(a, "lora_te2_" + t5), w);
    EXPECT_EQ(target(a, "lora_te3_" + t5), w);
    EXPECT_EQ(target(a, "lora_te1_" + t5), "<none>");
    EXPECT_EQ(target(a, "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q"),
              w);
  }
  {  // SD3: CLIP-L, bigG and T5: lora_te3_ only.
    const AliasMap a = aliases(corpus_base(kSd3));
    EXPECT_NE(target(a, "lora_te3_" + t5), "<none>");
    EXPECT_EQ(target(a, "lora_te2_" + t5), "<none>");
  }
}

TEST(AdapterAlias, ReferenceLayoutsBindLikeTheCorpusLists) {
  struct C {
    const char* ref;
    const char* lora;
  };
  for (const C c : {C{"sd1", "arenasys_toolkit_component_LoRA-v1A-UNET.txt"},
                    C{"flux", "invokeai_flux_lora_kohya_with_te1_and_te3_format.txt"},
                    C{"flux", "invokeai_flux_lora_xlabs_format.txt"}}) {
    auto a = adapter::parse(corpus_adapter(c.lora), model::ModelIndex::reference(c.ref));
    SCOPED_TRACE(report_summary(a.report));
    EXPECT_GT(a.report.modules, 0u);
    EXPECT_EQ(a.report.matched, a.report.modules) << c.ref << " " << c.lora;
  }
}

}  // namespace
}  // namespace lorakit::testing
