// Module paths and equivalent names, checked against entries derived by hand from the tables of
// lora-formats.md §2.3–§2.6 (block table, MMDiT/FLUX maps, OpenCLIP map).
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::model {
namespace {

const ModulePath* find_path(const ModelIndex& m, ComponentKind c, Naming n,
                            const std::string& path) {
  for (const auto& p : m.module_paths())
    if (p.component == c && p.naming == n && p.path == path) return &p;
  return nullptr;
}

Binding plain(const std::string& tensor, DeltaTransform t = DeltaTransform::None) {
  return Binding{{BindingPart{tensor, std::nullopt}}, t};
}
Binding slice(const std::string& tensor, uint64_t b, uint64_t e) {
  return Binding{{BindingPart{tensor, RowSlice{b, e}}}, DeltaTransform::None};
}
Binding concat(std::vector<std::string> tensors) {
  Binding b;
  for (auto& t : tensors) b.parts.push_back({t, std::nullopt});
  return b;
}

void expect_binding(const ModelIndex& m, ComponentKind c, Naming n, const std::string& path,
                    const Binding& want) {
  const ModulePath* p = find_path(m, c, n, path);
  ASSERT_NE(p, nullptr) << path;
  EXPECT_EQ(p->binding, want) << path;
}

constexpr auto DM = ComponentKind::DiffusionModel;

TEST(ModulePathUnet, SdxlBlockTable) {
  ModelIndex m = testing::corpus_model("sdmecha_sdxl_sgm.txt");
  const std::string p = "model.diffusion_model.";
  expect_binding(m, DM, Naming::Original, "input_blocks.4.1.proj_in",
                 plain(p + "input_blocks.4.1.proj_in.weight"));
  expect_binding(m, DM, Naming::Diffusers, "down_blocks.1.attentions.0.proj_in",
                 plain(p + "input_blocks.4.1.proj_in.weight"));
  expect_binding(m, DM, Naming::Diffusers, "down_blocks.0.resnets.1.conv1",
                 plain(p + "input_blocks.2.0.in_layers.2.weight"));
  expect_binding(m, DM, Naming::Diffusers, "down_blocks.1.downsamplers.0.conv",
                 plain(p + "input_blocks.6.0.op.weight"));
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.0.upsamplers.0.conv",
                 plain(p + "output_blocks.2.2.conv.weight"));
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.1.resnets.2.conv_shortcut",
                 plain(p + "output_blocks.5.0.skip_connection.weight"));
  expect_binding(m, DM, Naming::Diffusers, "mid_block.attentions.0.transformer_blocks.9.attn2.to_k",
                 plain(p + "middle_block.1.transformer_blocks.9.attn2.to_k.weight"));
  expect_binding(m, DM, Naming::Diffusers, "mid_block.resnets.1.time_emb_proj",
                 plain(p + "middle_block.2.emb_layers.1.weight"));
  expect_binding(m, DM, Naming::Diffusers, "add_embedding.linear_2",
                 plain(p + "label_emb.0.2.weight"));
  expect_binding(m, DM, Naming::Diffusers, "conv_norm_out", plain(p + "out.0.weight"));
  expect_binding(m, DM, Naming::Diffusers, "time_embedding.linear_1",
                 plain(p + "time_embed.0.weight"));
  // SDXL has no attention at level 0 and no down level 3: no such names.
  EXPECT_EQ(find_path(m, DM, Naming::Diffusers, "down_blocks.0.attentions.0.proj_in"), nullptr);
  EXPECT_EQ(find_path(m, DM, Naming::Diffusers, "up_blocks.2.upsamplers.0.conv"), nullptr);
  // Biases are companions, never paths.
  EXPECT_EQ(find_path(m, DM, Naming::Original, "input_blocks.4.1.proj_in.bias"), nullptr);
  EXPECT_NE(m.bias_of(p + "input_blocks.4.1.proj_in.weight"), nullptr);
}

TEST(ModulePathUnet, Sd1UpsamplerWithoutAttention) {
  ModelIndex m = testing::corpus_model("arenasys_assembled_sd15_ldm_full.txt");
  const std::string p = "model.diffusion_model.";
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.0.upsamplers.0.conv",
                 plain(p + "output_blocks.2.1.conv.weight"));
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.1.upsamplers.0.conv",
                 plain(p + "output_blocks.5.2.conv.weight"));
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.3.attentions.2.proj_out",
                 plain(p + "output_blocks.11.1.proj_out.weight"));
  expect_binding(m, DM, Naming::Diffusers, "down_blocks.3.resnets.1.conv2",
                 plain(p + "input_blocks.11.0.out_layers.3.weight"));
  expect_binding(m, DM, Naming::Diffusers, "down_blocks.2.downsamplers.0.conv",
                 plain(p + "input_blocks.9.0.op.weight"));
  EXPECT_EQ(find_path(m, DM, Naming::Diffusers, "up_blocks.3.upsamplers.0.conv"), nullptr);
  EXPECT_EQ(find_path(m, DM, Naming::Diffusers, "down_blocks.3.downsamplers.0.conv"), nullptr);
}

TEST(ModulePathUnet, DiffusersModelGetsLdmNames) {
  ModelIndex m = testing::corpus_model("sdmecha_sdxl_diffusers_unet_only.txt");
  expect_binding(m, DM, Naming::Diffusers, "down_blocks.1.attentions.0.proj_in",
                 plain("down_blocks.1.attentions.0.proj_in.weight"));
  expect_binding(m, DM, Naming::Original, "input_blocks.4.1.proj_in",
                 plain("down_blocks.1.attentions.0.proj_in.weight"));
  expect_binding(m, DM, Naming::Original, "output_blocks.2.2.conv",
                 plain("up_blocks.0.upsamplers.0.conv.weight"));
  expect_binding(m, DM, Naming::Original, "output_blocks.8.0.skip_connection",
                 plain("up_blocks.2.resnets.2.conv_shortcut.weight"));
  expect_binding(m, DM, Naming::Original, "label_emb.0.0", plain("add_embedding.linear_1.weight"));
}

TEST(ModulePathUnet, RefinerUpsamplerSlots) {
  ModelIndex m = testing::corpus_model("arenasys_toolkit_component_UNET-XL-Refiner.txt");
  // Refiner: level 0 has no attention (upsampler in slot 1), levels 1 and 2 have it (slot 2).
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.0.upsamplers.0.conv",
                 plain("output_blocks.2.1.conv.weight"));
  expect_binding(m, DM, Naming::Diffusers, "up_blocks.2.upsamplers.0.conv",
                 plain("output_blocks.8.2.conv.weight"));
}

TEST(ModulePathFlux, BflModelSlicesAndSwap) {
  ModelIndex m = testing::corpus_model("sdmecha_flux_dev_bfl_transformer_only.txt");
  expect_binding(m, DM, Naming::Diffusers, "single_transformer_blocks.7.proj_mlp",
                 slice("single_blocks.7.linear1.weight", 9216, 21504));
  expect_binding(m, DM, Naming::Diffusers, "single_transformer_blocks.7.attn.to_k",
                 slice("single_blocks.7.linear1.weight", 3072, 6144));
  expect_binding(m, DM, Naming::Original, "single_blocks.7.linear1_qkv",
                 slice("single_blocks.7.linear1.weight", 0, 9216));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.3.attn.add_v_proj",
                 slice("double_blocks.3.txt_attn.qkv.weight", 6144, 9216));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.3.attn.to_q",
                 slice("double_blocks.3.img_attn.qkv.weight", 0, 3072));
  expect_binding(m, DM, Naming::Diffusers, "norm_out.linear",
                 plain("final_layer.adaLN_modulation.1.weight", DeltaTransform::SwapScaleShift));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.0.attn.norm_added_k",
                 plain("double_blocks.0.txt_attn.norm.key_norm.scale"));
  expect_binding(m, DM, Naming::Original, "double_blocks.0.txt_attn.norm.key_norm.scale",
                 plain("double_blocks.0.txt_attn.norm.key_norm.scale"));
  expect_binding(m, DM, Naming::Diffusers, "time_text_embed.guidance_embedder.linear_2",
                 plain("guidance_in.out_layer.weight"));
  expect_binding(m, DM, Naming::Diffusers, "single_transformer_blocks.37.proj_out",
                 plain("single_blocks.37.linear2.weight"));
}

TEST(ModulePathFlux, ComfyAllInOnePrefixes) {
  ModelIndex m = testing::corpus_model("sdmecha_flux_flux.txt");
  expect_binding(m, DM, Naming::Diffusers, "single_transformer_blocks.7.proj_mlp",
                 slice("model.diffusion_model.single_blocks.7.linear1.weight", 9216, 21504));
  expect_binding(
      m, ComponentKind::ClipL, Naming::HfClip, "text_model.encoder.layers.3.mlp.fc1",
      plain("text_encoders.clip_l.transformer.text_model.encoder.layers.3.mlp.fc1.weight"));
  expect_binding(
      m, ComponentKind::T5xxl, Naming::HfT5, "encoder.block.0.layer.0.SelfAttention.q",
      plain("text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q.weight"));
}

TEST(ModulePathFlux, DiffusersModelVirtualConcatenations) {
  ModelIndex m = testing::corpus_model("forge_hf_flux1_dev_diffusers_transformer_index.txt");
  expect_binding(
      m, DM, Naming::Original, "double_blocks.0.img_attn.qkv",
      concat({"transformer_blocks.0.attn.to_q.weight", "transformer_blocks.0.attn.to_k.weight",
              "transformer_blocks.0.attn.to_v.weight"}));
  expect_binding(m, DM, Naming::Original, "single_blocks.5.linear1",
                 concat({"single_transformer_blocks.5.attn.to_q.weight",
                         "single_transformer_blocks.5.attn.to_k.weight",
                         "single_transformer_blocks.5.attn.to_v.weight",
                         "single_transformer_blocks.5.proj_mlp.weight"}));
  expect_binding(m, DM, Naming::Original, "single_blocks.5.linear1_qkv",
                 concat({"single_transformer_blocks.5.attn.to_q.weight",
                         "single_transformer_blocks.5.attn.to_k.weight",
                         "single_transformer_blocks.5.attn.to_v.weight"}));
  expect_binding(m, DM, Naming::Original, "final_layer.adaLN_modulation.1",
                 plain("norm_out.linear.weight", DeltaTransform::SwapScaleShift));
  expect_binding(m, DM, Naming::Original, "single_blocks.5.norm.key_norm.scale",
                 plain("single_transformer_blocks.5.attn.norm_k.weight"));
  expect_binding(m, DM, Naming::Diffusers, "single_transformer_blocks.5.attn.norm_k",
                 plain("single_transformer_blocks.5.attn.norm_k.weight"));
  // Each fused name once.
  size_t n = 0;
  for (const auto& p : m.module_paths()) n += p.path == "double_blocks.0.img_attn.qkv";
  EXPECT_EQ(n, 1u);
}

TEST(ModulePathSd3, MmditThirdsAndLastContextSwap) {
  ModelIndex m = testing::corpus_model("sdmecha_sd3_comfyui.txt");
  const std::string p = "model.diffusion_model.";
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.5.attn.to_v",
                 slice(p + "joint_blocks.5.x_block.attn.qkv.weight", 3072, 4608));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.5.attn.add_k_proj",
                 slice(p + "joint_blocks.5.context_block.attn.qkv.weight", 1536, 3072));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.5.norm1_context.linear",
                 plain(p + "joint_blocks.5.context_block.adaLN_modulation.1.weight"));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.23.norm1_context.linear",
                 plain(p + "joint_blocks.23.context_block.adaLN_modulation.1.weight",
                       DeltaTransform::SwapScaleShift));
  expect_binding(
      m, DM, Naming::Diffusers, "norm_out.linear",
      plain(p + "final_layer.adaLN_modulation.1.weight", DeltaTransform::SwapScaleShift));
  expect_binding(m, DM, Naming::Diffusers, "pos_embed.pos_embed", plain(p + "pos_embed"));
  expect_binding(m, DM, Naming::Diffusers, "pos_embed.proj", plain(p + "x_embedder.proj.weight"));
  // The last block's context stream is pre-only: no attn.proj, so no to_add_out.
  EXPECT_EQ(find_path(m, DM, Naming::Diffusers, "transformer_blocks.23.attn.to_add_out"), nullptr);
  EXPECT_NE(find_path(m, DM, Naming::Diffusers, "transformer_blocks.22.attn.to_add_out"), nullptr);
  // CLIP-G in HF naming gets its OpenCLIP names (fused in_proj as a concatenation, transposed P).
  const std::string g = "text_encoders.clip_g.transformer.";
  expect_binding(m, ComponentKind::ClipG, Naming::OpenClip,
                 "transformer.resblocks.3.attn.in_proj_weight",
                 concat({g + "text_model.encoder.layers.3.self_attn.q_proj.weight",
                         g + "text_model.encoder.layers.3.self_attn.k_proj.weight",
                         g + "text_model.encoder.layers.3.self_attn.v_proj.weight"}));
  expect_binding(m, ComponentKind::ClipG, Naming::OpenClip, "text_projection",
                 plain(g + "text_projection.weight", DeltaTransform::Transpose));
}

TEST(ModulePathSd3, Sd35LargeQkNorm) {
  ModelIndex m = testing::corpus_model("invokeai_sd35_large_full_checkpoint.txt");
  const std::string p = "model.diffusion_model.";
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.10.attn.norm_added_q",
                 plain(p + "joint_blocks.10.context_block.attn.ln_q.weight"));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.10.attn.to_k",
                 slice(p + "joint_blocks.10.x_block.attn.qkv.weight", 2432, 4864));
  expect_binding(m, DM, Naming::Diffusers, "transformer_blocks.37.norm1_context.linear",
                 plain(p + "joint_blocks.37.context_block.adaLN_modulation.1.weight",
                       DeltaTransform::SwapScaleShift));
}

TEST(ModulePathClip, OpenClipBigGSlicesAndTranspose) {
  ModelIndex m = testing::corpus_model("sdmecha_sdxl_sgm.txt");
  const std::string g = "conditioner.embedders.1.model.";
  const auto G = ComponentKind::ClipG;
  expect_binding(m, G, Naming::HfClip, "text_model.encoder.layers.3.self_attn.k_proj",
                 slice(g + "transformer.resblocks.3.attn.in_proj_weight", 1280, 2560));
  expect_binding(m, G, Naming::OpenClip, "transformer.resblocks.3.attn.in_proj_weight",
                 plain(g + "transformer.resblocks.3.attn.in_proj_weight"));
  expect_binding(m, G, Naming::HfClip, "text_projection",
                 plain(g + "text_projection", DeltaTransform::Transpose));
  expect_binding(m, G, Naming::HfClip, "text_model.embeddings.position_embedding",
                 plain(g + "positional_embedding"));
  expect_binding(m, G, Naming::HfClip, "text_model.encoder.layers.31.mlp.fc2",
                 plain(g + "transformer.resblocks.31.mlp.c_proj.weight"));
  expect_binding(m, G, Naming::HfClip, "text_model.final_layer_norm", plain(g + "ln_final.weight"));
  EXPECT_EQ(find_path(m, G, Naming::OpenClip, "transformer.resblocks.3.attn.in_proj_bias"),
            nullptr);
  const TensorMeta* bias = m.bias_of(g + "transformer.resblocks.3.attn.in_proj_weight");
  ASSERT_NE(bias, nullptr);
  EXPECT_EQ(bias->name, g + "transformer.resblocks.3.attn.in_proj_bias");
  // CLIP-L stays in HF naming only.
  expect_binding(m, ComponentKind::ClipL, Naming::HfClip,
                 "text_model.encoder.layers.0.self_attn.q_proj",
                 plain("conditioner.embedders.0.transformer.text_model.encoder.layers.0.self_attn."
                       "q_proj.weight"));
}

TEST(ModulePathClip, Sd2ViTHSlices) {
  ModelIndex m = testing::corpus_model("arenasys_assembled_sd21_ldm_full.txt");
  expect_binding(
      m, ComponentKind::ClipH, Naming::HfClip, "text_model.encoder.layers.0.self_attn.v_proj",
      slice("cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight", 2048, 3072));
}

TEST(ModulePath, EveryOwnKeyHasItsPathAndNoDuplicates) {
  for (const char* f :
       {"sdmecha_sd1_ldm.txt", "sdmecha_sdxl_sgm.txt", "sdmecha_sd3_comfyui.txt",
        "sdmecha_flux_flux.txt", "forge_hf_flux1_dev_diffusers_transformer_index.txt",
        "invokeai_model_flux1_transformer_scaled_fp8_keys.txt"}) {
    ModelIndex m = testing::corpus_model(f);
    std::set<std::tuple<ComponentKind, Naming, std::string>> seen;
    std::set<std::string> own;
    for (const auto& p : m.module_paths()) {
      EXPECT_TRUE(seen.insert({p.component, p.naming, p.path}).second) << f << ": " << p.path;
      ASSERT_FALSE(p.binding.parts.empty());
      for (const auto& part : p.binding.parts)
        EXPECT_NE(m.find(part.tensor), nullptr) << part.tensor;
      if (p.binding.parts.size() == 1 && !p.binding.parts[0].rows)
        own.insert(p.binding.parts[0].tensor);
      EXPECT_FALSE(p.path.ends_with(".weight")) << p.path;
      EXPECT_FALSE(p.path.ends_with(".bias")) << p.path;
      EXPECT_FALSE(p.path.ends_with("scale_weight")) << p.path;
    }
    // Every tensor that belongs to a component and is not a bias or side tensor is bound whole.
    for (const auto& t : m.tensors()) {
      bool in_component = false;
      for (const auto& c : m.components()) in_component |= t.name.starts_with(c.prefix);
      if (!in_component || t.name.ends_with(".bias") || t.name.ends_with("_bias") ||
          t.name.ends_with(".scale_weight") || t.name.ends_with(".scale_input") ||
          t.name == "scaled_fp8")
        continue;
      EXPECT_TRUE(own.count(t.name)) << f << ": " << t.name;
    }
  }
}

TEST(ModulePath, ScaledFp8SideTensorsAreNotPaths) {
  ModelIndex m = testing::corpus_model("invokeai_model_flux1_transformer_scaled_fp8_keys.txt");
  for (const auto& p : m.module_paths()) {
    EXPECT_FALSE(p.path.ends_with("scale_weight")) << p.path;
    EXPECT_FALSE(p.path.ends_with("scale_input")) << p.path;
    EXPECT_NE(p.path, "scaled_fp8");
  }
  // No shapes in this list: FLUX.1 dimensions are assumed.
  expect_binding(m, DM, Naming::Diffusers, "single_transformer_blocks.0.proj_mlp",
                 slice("single_blocks.0.linear1.weight", 9216, 21504));
}

}  // namespace
}  // namespace lorakit::model
