// Every real LoRA key list of the shared corpus (../shared/corpus/INDEX.md) bound to its base
// layout.
#include <gtest/gtest.h>

#include "adapter_fixtures.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::testing {
namespace {

constexpr const char* kSd1 = "arenasys_assembled_sd15_ldm_full.txt";
constexpr const char* kSdxl = "arenasys_assembled_sdxl_base_ldm_full.txt";
constexpr const char* kSd3 = "sdmecha_sd3_comfyui.txt";
constexpr const char* kFlux = "sdmecha_flux_flux.txt";

struct Case {
  const char* lora;
  const char* base;
  const char* format;  // expected format label
  const char* trained_for;
  // Issue excerpts are cut out of longer logs: their first and last records may lack keys, so
  // those records are incomplete, but every key still binds.
  bool partial = false;
  // The ai-toolkit keymap names LoRAs on norm layers too; a B·A delta is 2-D and §8.0 accepts
  // 1-D targets only by exact shape, so those records (and only those) are shape mismatches.
  bool norm_loras = false;
};

class AdapterCorpus : public ::testing::TestWithParam<Case> {};

TEST_P(AdapterCorpus, MapsCompletely) {
  const Case& c = GetParam();
  const auto& model = corpus_base(c.base);
  auto list = read_key_list(corpus_path(c.lora));
  auto src = list.unknown_shapes ? shaped_for_model(c.lora, model) : corpus_adapter(c.lora);
  auto a = adapter::parse(src, model);
  const auto& r = a.report;
  SCOPED_TRACE(report_summary(r));
  EXPECT_EQ(r.format_label, c.format);
  EXPECT_EQ(r.trained_for, c.trained_for);
  EXPECT_TRUE(r.compat_error.empty());
  EXPECT_GT(r.modules, 0u);
  EXPECT_TRUE(r.unmatched.empty());
  EXPECT_TRUE(r.unused_keys.empty());
  EXPECT_TRUE(r.ambiguous.empty());
  EXPECT_TRUE(r.invalid.empty());
  EXPECT_TRUE(r.conflicts.empty());
  EXPECT_TRUE(r.unsupported.empty());
  if (c.partial) {
    EXPECT_LE(r.incomplete.size(), 2u);
  } else {
    EXPECT_TRUE(r.incomplete.empty());
  }
  if (c.norm_loras) {
    EXPECT_FALSE(r.shape_mismatch.empty());
    for (const auto& m : r.shape_mismatch) {
      EXPECT_EQ(m.target_shape.size(), 1u) << m.target;
      EXPECT_EQ(m.shape, (std::vector<uint64_t>{m.target_shape[0], 1})) << m.target;
    }
  } else {
    EXPECT_TRUE(r.shape_mismatch.empty());
  }
  EXPECT_EQ(r.matched + r.incomplete.size() + r.shape_mismatch.size(), r.modules);
  EXPECT_TRUE(r.duplicate_bindings.empty());
  EXPECT_TRUE(r.overlaps.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Files, AdapterCorpus,
    ::testing::Values(
        Case{"arenasys_toolkit_component_LoRA-v1-UNET.txt", kSd1, "kohya", "sd1"},
        Case{"arenasys_toolkit_component_LoRA-v1A-UNET.txt", kSd1, "kohya", "sd1"},
        Case{"arenasys_toolkit_component_LoRA-v1-CLIP.txt", kSd1, "kohya", "sd1"},
        Case{"arenasys_toolkit_component_LoRA-v1A-CLIP.txt", kSd1, "kohya", "sd1"},
        Case{"invokeai_flux_control_lora_format.txt", kFlux, "bfl-control", "flux"},
        Case{"invokeai_flux_dora_onetrainer_format.txt", kFlux, "onetrainer", "flux"},
        Case{"invokeai_flux_lora_aitoolkit_format.txt", kFlux, "comfyui", "flux"},
        Case{"invokeai_flux_lora_diffusers_base_model_format.txt", kFlux, "peft-raw", "flux"},
        Case{"invokeai_flux_lora_diffusers_format.txt", kFlux, "peft", "flux"},
        Case{"invokeai_flux_lora_diffusers_hypersd_norm_out_format.txt", kFlux, "peft", "flux"},
        Case{"invokeai_flux_lora_diffusers_no_proj_mlp_format.txt", kFlux, "peft", "flux"},
        Case{"invokeai_flux_lora_diffusers_v2_lora_dot_down_format.txt", kFlux, "diffusers",
             "flux"},
        Case{"invokeai_flux_lora_kohya_format.txt", kFlux, "kohya", "flux"},
        Case{"invokeai_flux_lora_kohya_transformer_dora_format.txt", kFlux, "onetrainer", "flux"},
        Case{"invokeai_flux_lora_kohya_with_te1_and_te3_format.txt", kFlux, "kohya", "flux"},
        Case{"invokeai_flux_lora_kohya_with_te1_format.txt", kFlux, "kohya", "flux"},
        Case{"invokeai_flux_lora_xlabs_format.txt", kFlux, "xlabs", "flux"},
        Case{"aitoolkit_keymap_locon_sdxl_lora_diffusers_side.txt", kSdxl, "kohya", "sdxl", false,
             true},
        Case{"aitoolkit_keymap_locon_sdxl_lora_ldm_side.txt", kSdxl, "kohya", "sdxl", false, true},
        Case{"issue_excerpts/a1111_8360_kohya_locon_sd15.txt", kSd1, "kohya", "unknown", true},
        Case{"issue_excerpts/comfy_6397_ia3_sd15.txt", kSd1, "lycoris", "unknown", true},
        Case{"issue_excerpts/aitoolkit_67_diffusers_flux_transformer.txt", kFlux, "peft", "unknown",
             true},
        Case{"issue_excerpts/comfy_1144_diffusers_attnproc_sdxl.txt", kSdxl, "diffusers-processor",
             "sdxl", true},
        Case{"issue_excerpts/comfy_1144_kohya_lokr_sdxl_te1.txt", kSdxl, "lycoris", "unknown",
             true},
        Case{"issue_excerpts/comfy_1144_kohya_sdxl_te2.txt", kSdxl, "kohya", "unknown", true},
        Case{"issue_excerpts/comfy_3701_kohya_sd3_lora_transformer.txt", kSd3, "onetrainer", "sd3",
             true},
        Case{"issue_excerpts/comfy_4476_lycoris_lokr_flux_diffusers_named.txt", kFlux,
             "simpletuner-lycoris", "flux", true},
        Case{"issue_excerpts/comfy_5655_kohya_sdxl_ldm_named.txt", kSdxl, "kohya", "sdxl", true},
        Case{"issue_excerpts/comfy_9753_peft_lokr_sdxl.txt", kSdxl, "peft-raw", "sdxl", true}));

}  // namespace
}  // namespace lorakit::testing

namespace lorakit::testing {
namespace {

// The corpus marks this LoKr sample SYNTHETIC: its factor shapes are not a Kronecker factorisation
// of the FLUX weights. Every record binds; every one is a shape mismatch naming both shapes.
TEST(AdapterCorpusSynthetic, FluxLokrSampleBindsButDoesNotFit) {
  auto a = adapter::parse(corpus_adapter("invokeai_flux_lokr_bfl_format.txt"),
                          corpus_base("sdmecha_flux_flux.txt"));
  const auto& r = a.report;
  SCOPED_TRACE(report_summary(r));
  EXPECT_EQ(r.format, adapter::Format::ComfyGeneric);
  EXPECT_EQ(r.modules, 6u);
  EXPECT_EQ(r.kinds.at(adapter::Kind::LoKr), 6u);
  EXPECT_TRUE(r.unmatched.empty());
  ASSERT_EQ(r.shape_mismatch.size(), 6u);
  for (const auto& m : r.shape_mismatch) {
    EXPECT_FALSE(m.shape.empty());
    EXPECT_FALSE(m.target_shape.empty());
    EXPECT_NE(m.shape, m.target_shape);
  }
  EXPECT_EQ(r.shape_mismatch[0].key, "diffusion_model.double_blocks.0.img_attn.proj");
  EXPECT_EQ(r.shape_mismatch[0].shape, (std::vector<uint64_t>{32 * 32, 96 * 32}));
  EXPECT_EQ(r.shape_mismatch[0].target_shape, (std::vector<uint64_t>{3072, 3072}));
}

}  // namespace
}  // namespace lorakit::testing
