// Detection on every full-model key list of the shared corpus (../shared/corpus/INDEX.md): family,
// variant, layout, and which components sit under which prefix.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::model {
namespace {

struct Expect {
  const char* file;
  Family family;
  const char* variant;
  Layout layout;
  // "kind@prefix" for each component, in ModelIndex order.
  std::vector<std::string> components;
  const char* unsupported = "";
};

std::vector<std::string> describe(const ModelIndex& m) {
  std::vector<std::string> out;
  for (const auto& c : m.components())
    out.push_back(std::string(component_name(c.kind)) + "@" + c.prefix);
  return out;
}

const std::vector<Expect>& expectations() {
  static const std::vector<Expect> kAll = {
      // Full single-file checkpoints.
      {"arenasys_assembled_sd15_ldm_full.txt",
       Family::SD1,
       "sd1",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@cond_stage_model.transformer.",
        "vae@first_stage_model."}},
      {"sdmecha_sd1_ldm.txt",
       Family::SD1,
       "sd1",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@cond_stage_model.transformer.",
        "vae@first_stage_model."}},
      {"arenasys_assembled_sd21_ldm_full.txt",
       Family::SD2,
       "sd2",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_h@cond_stage_model.model.",
        "vae@first_stage_model."}},
      {"arenasys_assembled_sdxl_base_ldm_full.txt",
       Family::SDXL,
       "sdxl",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@conditioner.embedders.0.transformer.",
        "clip_g@conditioner.embedders.1.model.", "vae@first_stage_model."}},
      {"sdmecha_sdxl_sgm.txt",
       Family::SDXL,
       "sdxl",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@conditioner.embedders.0.transformer.",
        "clip_g@conditioner.embedders.1.model.", "vae@first_stage_model."}},
      {"sdmecha_sd3_comfyui.txt",
       Family::SD3,
       "sd3-medium",
       Layout::Sd3Single,
       {"diffusion_model@model.diffusion_model.", "clip_l@text_encoders.clip_l.transformer.",
        "clip_g@text_encoders.clip_g.transformer.", "t5xxl@text_encoders.t5xxl.transformer.",
        "vae@first_stage_model."}},
      {"invokeai_sd35_large_full_checkpoint.txt",
       Family::SD3,
       "sd3.5-large",
       Layout::Sd3Single,
       {"diffusion_model@model.diffusion_model.", "vae@first_stage_model."}},
      {"sdmecha_flux_flux.txt",
       Family::Flux,
       "flux-dev",
       Layout::ComfyUI,
       {"diffusion_model@model.diffusion_model.", "clip_l@text_encoders.clip_l.transformer.",
        "t5xxl@text_encoders.t5xxl.transformer.", "vae@vae."}},
      // sd-mecha's kohya-style single files: components under unet./te./te1./te2.
      {"sdmecha_sd1_kohya.txt",
       Family::SD1,
       "sd1",
       Layout::Diffusers,
       {"diffusion_model@unet.", "clip_l@te.", "vae@vae."}},
      {"sdmecha_sdxl_kohya.txt",
       Family::SDXL,
       "sdxl",
       Layout::LdmSgm,
       {"diffusion_model@unet.", "clip_l@te1.", "clip_g@te2.", "vae@first_stage_model."}},
      {"sdmecha_sdxl_kohya_but_diffusers.txt",
       Family::SDXL,
       "sdxl",
       Layout::Diffusers,
       {"diffusion_model@unet.", "clip_l@te1.", "clip_g@te2.", "vae@first_stage_model."}},
      // ai-toolkit's LDM-side key maps: real checkpoint key sets without shapes (structure
      // decides).
      {"aitoolkit_keymap_sd1_ldm_side.txt",
       Family::SD1,
       "sd1",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@cond_stage_model.transformer.",
        "vae@first_stage_model."}},
      {"aitoolkit_keymap_sd2_ldm_side.txt",
       Family::SD2,
       "sd2",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_h@cond_stage_model.model.",
        "vae@first_stage_model."}},
      {"aitoolkit_keymap_sdxl_ldm_side.txt",
       Family::SDXL,
       "sdxl",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@conditioner.embedders.0.transformer.",
        "clip_g@conditioner.embedders.1.model.", "vae@first_stage_model."}},
      {"aitoolkit_keymap_refiner_ldm_side.txt",
       Family::SDXL,
       "sdxl-refiner",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_g@conditioner.embedders.0.model.",
        "vae@first_stage_model."}},
      {"aitoolkit_keymap_ssd_ldm_side.txt",
       Family::SDXL,
       "sdxl",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@conditioner.embedders.0.transformer.",
        "clip_g@conditioner.embedders.1.model.", "vae@first_stage_model."}},
      {"aitoolkit_keymap_vega_ldm_side.txt",
       Family::SDXL,
       "sdxl",
       Layout::LdmSgm,
       {"diffusion_model@model.diffusion_model.", "clip_l@conditioner.embedders.0.transformer.",
        "clip_g@conditioner.embedders.1.model.", "vae@first_stage_model."}},
      // Diffusion model alone.
      {"arenasys_toolkit_component_UNET-v1-SD.txt",
       Family::SD1,
       "sd1",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-v1-Inpainting.txt",
       Family::SD1,
       "sd1-inpaint",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-v1-Pix2Pix.txt",
       Family::SD1,
       "sd1-pix2pix",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-v2-SD.txt",
       Family::SD2,
       "sd2",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-v2-Inpainting.txt",
       Family::SD2,
       "sd2-inpaint",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-v2-Depth.txt",
       Family::SD2,
       "sd2-depth",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-XL-SD.txt",
       Family::SDXL,
       "sdxl",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"arenasys_toolkit_component_UNET-XL-Refiner.txt",
       Family::SDXL,
       "sdxl-refiner",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"sdmecha_sdxl_diffusers_unet_only.txt",
       Family::SDXL,
       "sdxl",
       Layout::Diffusers,
       {"diffusion_model@"}},
      {"sdmecha_flux_dev_bfl_transformer_only.txt",
       Family::Flux,
       "flux-dev",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"invokeai_model_flux1_transformer_scaled_fp8_keys.txt",
       Family::Flux,
       "flux-dev",
       Layout::Bfl,
       {"diffusion_model@"}},
      {"forge_hf_flux1_dev_diffusers_transformer_index.txt",
       Family::Flux,
       "flux-dev",
       Layout::Diffusers,
       {"diffusion_model@"}},
      {"forge_hf_flux1_schnell_diffusers_transformer_index.txt",
       Family::Flux,
       "flux-schnell",
       Layout::Diffusers,
       {"diffusion_model@"}},
      // Text encoders and VAE alone: no diffusion model, so no family.
      {"arenasys_toolkit_component_CLIP-v1-SD.txt",
       Family::Unknown,
       "",
       Layout::Diffusers,
       {"clip_l@"}},
      {"arenasys_toolkit_component_CLIP-v2-SD.txt", Family::Unknown, "", Layout::Bfl, {"clip_h@"}},
      {"arenasys_toolkit_component_CLIP-v2-WD.txt", Family::Unknown, "", Layout::Bfl, {"clip_h@"}},
      {"arenasys_toolkit_component_CLIP-XL-SD.txt", Family::Unknown, "", Layout::Bfl, {"clip_g@"}},
      {"forge_hf_flux1_t5xxl_text_encoder_2_index.txt",
       Family::Unknown,
       "",
       Layout::Diffusers,
       {"t5xxl@"}},
      {"forge_hf_sd3_medium_t5xxl_text_encoder_3_fp16_index.txt",
       Family::Unknown,
       "",
       Layout::Diffusers,
       {"t5xxl@"}},
      {"arenasys_toolkit_component_VAE-v1-SD.txt", Family::Unknown, "", Layout::Bfl, {"vae@"}},
      // Out of scope: recognised and refused, never misdetected as a supported family.
      {"invokeai_model_flux2_transformer_bfl_keys.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "flux2"},
      {"invokeai_model_flux2_klein_4b_scaled_fp8_keys.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "flux2"},
      {"invokeai_model_flux2_transformer_fp8mixed_keys.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "flux2"},
      {"invokeai_model_z_image_transformer_comfyui_keys.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "z-image"},
      {"invokeai_model_anima_comfyui_keys.txt", Family::Unknown, "", Layout::Unknown, {}, "anima"},
      {"arenasys_toolkit_component_ControlNet-v1-SD.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "controlnet"},
      {"invokeai_flux_controlnet_instantx_union_full.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "controlnet"},
      {"invokeai_flux_controlnet_xlabs_canny_v2_full.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "controlnet"},
      {"invokeai_flux_ipadapter_xlabs_full.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "ip-adapter"},
      {"invokeai_flux_ipadapter_xlabs_v2_full.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {},
       "ip-adapter"},
      // Other models nobody binds adapters to here: no family, no components.
      {"invokeai_model_qwen_vl_encoder_comfyui_keys.txt", Family::Unknown, "", Layout::Unknown, {}},
      {"forge_hf_kolors_chatglm_text_encoder_index.txt", Family::Unknown, "", Layout::Unknown, {}},
      {"arenasys_toolkit_component_Depth-v2-SD.txt", Family::Unknown, "", Layout::Unknown, {}},
      {"forge_a1111_vae_approx_model_pt.txt", Family::Unknown, "", Layout::Unknown, {}},
      {"invokeai_test_embedding_safetensors_header.txt", Family::Unknown, "", Layout::Unknown, {}},
      // Leftover-buffer files of ai-toolkit's key maps (position ids, logit scale, projection
      // only).
      {"aitoolkit_sdxl_ldm_base_safetensors_header.txt", Family::Unknown, "", Layout::Unknown, {}},
      {"aitoolkit_refiner_ldm_base_safetensors_header.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {}},
      {"aitoolkit_ssd_ldm_base_safetensors_header.txt", Family::Unknown, "", Layout::Unknown, {}},
      // named_modules() dumps of diffusers UNets: module names, not tensors (no ".weight" keys).
      {"invokeai_hidiffusion_sd15_diffusers_unet_module_names.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {}},
      {"invokeai_hidiffusion_sdxl_diffusers_unet_module_names.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {}},
      // EMA copies with the dots removed from the names are not a loadable layout.
      {"arenasys_toolkit_component_UNET-v1-EMA.txt", Family::Unknown, "", Layout::Unknown, {}},
      {"arenasys_toolkit_component_UNET-v1-Pix2Pix-EMA.txt",
       Family::Unknown,
       "",
       Layout::Unknown,
       {}},
  };
  return kAll;
}

class DetectCorpus : public ::testing::TestWithParam<Expect> {};

TEST_P(DetectCorpus, FamilyVariantLayoutComponents) {
  const Expect& e = GetParam();
  ModelIndex m = testing::corpus_model(e.file);
  EXPECT_EQ(family_name(m.arch().family), family_name(e.family));
  EXPECT_EQ(m.arch().variant, e.variant);
  EXPECT_EQ(layout_name(m.layout()), layout_name(e.layout));
  EXPECT_EQ(describe(m), e.components);
  EXPECT_EQ(m.arch().unsupported, e.unsupported);
  if (e.family == Family::Unknown)
    EXPECT_THROW(m.require_supported(), FormatError);
  else
    EXPECT_NO_THROW(m.require_supported());
}

std::string param_name(const ::testing::TestParamInfo<Expect>& info) {
  std::string n = info.param.file;
  n = n.substr(0, n.rfind('.'));
  for (char& c : n)
    if (!isalnum(static_cast<unsigned char>(c))) c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(All, DetectCorpus, ::testing::ValuesIn(expectations()), param_name);

// Dimensions the adapter layer checks against (lora-formats.md §3.4).
TEST(DetectDims, SdUnetsAndDits) {
  auto sd1 = testing::corpus_model("arenasys_assembled_sd15_ldm_full.txt").arch();
  EXPECT_EQ(sd1.context_dim, 768u);
  EXPECT_EQ(sd1.in_channels, 4u);
  EXPECT_EQ(testing::corpus_model("arenasys_assembled_sd21_ldm_full.txt").arch().context_dim,
            1024u);
  EXPECT_EQ(testing::corpus_model("sdmecha_sdxl_sgm.txt").arch().context_dim, 2048u);
  EXPECT_EQ(
      testing::corpus_model("arenasys_toolkit_component_UNET-XL-Refiner.txt").arch().context_dim,
      1280u);
  EXPECT_EQ(
      testing::corpus_model("arenasys_toolkit_component_UNET-v1-Inpainting.txt").arch().in_channels,
      9u);

  auto sd3 = testing::corpus_model("sdmecha_sd3_comfyui.txt").arch();
  EXPECT_EQ(sd3.depth, 24u);
  EXPECT_EQ(sd3.hidden, 1536u);
  auto sd35 = testing::corpus_model("invokeai_sd35_large_full_checkpoint.txt").arch();
  EXPECT_EQ(sd35.depth, 38u);
  EXPECT_EQ(sd35.hidden, 2432u);

  auto flux = testing::corpus_model("sdmecha_flux_flux.txt").arch();
  EXPECT_EQ(flux.hidden, 3072u);
  EXPECT_EQ(flux.depth, 19u);
  EXPECT_EQ(flux.single_depth, 38u);
  EXPECT_EQ(flux.in_channels, 16u);
  auto diff = testing::corpus_model("forge_hf_flux1_dev_diffusers_transformer_index.txt").arch();
  EXPECT_EQ(diff.depth, 19u);
  EXPECT_EQ(diff.single_depth, 38u);
}

TEST(DetectDims, ScaledFp8Marker) {
  EXPECT_TRUE(testing::corpus_model("invokeai_model_flux1_transformer_scaled_fp8_keys.txt")
                  .arch()
                  .scaled_fp8);
  EXPECT_FALSE(
      testing::corpus_model("sdmecha_flux_dev_bfl_transformer_only.txt").arch().scaled_fp8);
}

TEST(DetectEncoders, WidthAndDepth) {
  auto m = testing::corpus_model("sdmecha_sdxl_sgm.txt");
  ASSERT_EQ(m.components().size(), 4u);
  EXPECT_EQ(m.components()[1].width, 768u);
  EXPECT_EQ(m.components()[1].depth, 12u);
  EXPECT_EQ(m.components()[1].naming, Naming::HfClip);
  EXPECT_EQ(m.components()[2].width, 1280u);
  EXPECT_EQ(m.components()[2].depth, 32u);
  EXPECT_EQ(m.components()[2].naming, Naming::OpenClip);
  auto sd2 = testing::corpus_model("arenasys_assembled_sd21_ldm_full.txt");
  EXPECT_EQ(sd2.components()[1].width, 1024u);
  EXPECT_EQ(sd2.components()[1].depth, 24u);
  auto flux = testing::corpus_model("sdmecha_flux_flux.txt");
  EXPECT_EQ(flux.components()[2].width, 4096u);
  EXPECT_EQ(flux.components()[2].depth, 24u);
  EXPECT_EQ(flux.components()[2].naming, Naming::HfT5);
}

}  // namespace
}  // namespace lorakit::model
