// Variants with no full key list in the corpus, built by editing a reference layout the way the
// real checkpoints differ (lora-formats.md §3.1): FLUX schnell/Fill/Depth, Chroma, SD3.5 medium
// (MMDiT-X), SD2 unCLIP, old SD1 text encoders without "text_model.", and diffusers pipelines
// opened as
// "<component>.<name>".
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::model {
namespace {

using Edit = std::function<void(std::vector<TensorMeta>&)>;

ModelIndex edited(const std::string& ref, const Edit& edit) {
  std::vector<TensorMeta> t = ModelIndex::reference(ref).tensors();
  edit(t);
  return ModelIndex::from_tensors("edited:" + ref, std::move(t));
}

void drop_prefix(std::vector<TensorMeta>& t, const std::string& p) {
  std::erase_if(t, [&](const TensorMeta& m) { return m.name.starts_with(p); });
}

void set_shape(std::vector<TensorMeta>& t, const std::string& name, std::vector<uint64_t> s) {
  for (auto& m : t)
    if (m.name == name) m.shape = s;
}

const ModulePath* find_path(const ModelIndex& m, Naming n, const std::string& path) {
  for (const auto& p : m.module_paths())
    if (p.naming == n && p.path == path) return &p;
  return nullptr;
}

TEST(DetectVariants, FluxFamily) {
  const std::string p = "model.diffusion_model.";
  auto schnell = edited("flux", [&](auto& t) { drop_prefix(t, p + "guidance_in."); });
  EXPECT_EQ(schnell.arch().variant, "flux-schnell");
  EXPECT_EQ(find_path(schnell, Naming::Diffusers, "time_text_embed.guidance_embedder.linear_1"),
            nullptr);

  auto fill = edited("flux", [&](auto& t) { set_shape(t, p + "img_in.weight", {3072, 384}); });
  EXPECT_EQ(fill.arch().variant, "flux-fill");
  EXPECT_EQ(fill.arch().in_channels, 96u);

  auto depth = edited("flux", [&](auto& t) { set_shape(t, p + "img_in.weight", {3072, 128}); });
  EXPECT_EQ(depth.arch().variant, "flux-depth-canny");
  EXPECT_EQ(depth.arch().in_channels, 32u);
}

TEST(DetectVariants, ChromaIsUnsupported) {
  auto chroma = edited("flux", [](auto& t) {
    drop_prefix(t, "model.diffusion_model.guidance_in.");
    t.push_back(
        {"model.diffusion_model.distilled_guidance_layer.in_proj.weight", DType::BF16, {5120, 64}});
  });
  EXPECT_EQ(chroma.arch().family, Family::Unknown);
  EXPECT_EQ(chroma.arch().unsupported, "chroma");
  for (const auto& mp : chroma.module_paths())
    EXPECT_NE(mp.component, ComponentKind::DiffusionModel);
  try {
    chroma.require_supported();
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.category(), "unsupported_model");
    EXPECT_NE(std::string(e.what()).find("chroma"), std::string::npos);
  }
  // Its text encoders are still what they are.
  ASSERT_EQ(chroma.components().size(), 3u);
  EXPECT_EQ(chroma.components()[0].kind, ComponentKind::ClipL);
}

TEST(DetectVariants, QwenImageIsUnsupported) {
  ModelIndex m = ModelIndex::from_tensors(
      "qwen", {{"transformer_blocks.0.attn.add_q_proj.weight", DType::BF16, {3072, 3072}},
               {"transformer_blocks.0.img_mod.1.weight", DType::BF16, {18432, 3072}},
               {"transformer_blocks.0.txt_mod.1.weight", DType::BF16, {18432, 3072}},
               {"img_in.weight", DType::BF16, {3072, 64}}});
  EXPECT_EQ(m.arch().family, Family::Unknown);
  EXPECT_EQ(m.arch().unsupported, "qwen-image");
}

TEST(DetectVariants, Sd35MediumMmditX) {
  const std::string p = "model.diffusion_model.joint_blocks.";
  auto m = edited("sd3", [&](auto& t) {
    for (int n = 0; n < 24; ++n) {
      std::string b = p + std::to_string(n) + ".";
      for (const char* s : {"x_block", "context_block"}) {
        t.push_back({b + s + ".attn.ln_q.weight", DType::F16, {64}});
        t.push_back({b + s + ".attn.ln_k.weight", DType::F16, {64}});
      }
      if (n < 13) {
        t.push_back({b + "x_block.attn2.qkv.weight", DType::F16, {4608, 1536}});
        t.push_back({b + "x_block.attn2.qkv.bias", DType::F16, {4608}});
        t.push_back({b + "x_block.attn2.proj.weight", DType::F16, {1536, 1536}});
        t.push_back({b + "x_block.attn2.ln_q.weight", DType::F16, {64}});
      }
    }
  });
  EXPECT_EQ(m.arch().variant, "sd3.5-medium");
  EXPECT_EQ(m.arch().depth, 24u);
  const ModulePath* k = find_path(m, Naming::Diffusers, "transformer_blocks.12.attn2.to_k");
  ASSERT_NE(k, nullptr);
  EXPECT_EQ(k->binding.parts[0].tensor, p + "12.x_block.attn2.qkv.weight");
  EXPECT_EQ(k->binding.parts[0].rows, (RowSlice{1536, 3072}));
  EXPECT_NE(find_path(m, Naming::Diffusers, "transformer_blocks.12.attn2.to_out.0"), nullptr);
  EXPECT_NE(find_path(m, Naming::Diffusers, "transformer_blocks.12.attn2.norm_q"), nullptr);
  EXPECT_EQ(find_path(m, Naming::Diffusers, "transformer_blocks.13.attn2.to_k"), nullptr);
  // Without attn2 but with qk-norm and depth 24 it is still SD3.5 medium.
  auto no_x = edited("sd3", [&](auto& t) {
    t.push_back({p + "0.context_block.attn.ln_q.weight", DType::F16, {64}});
  });
  EXPECT_EQ(no_x.arch().variant, "sd3.5-medium");
}

TEST(DetectVariants, Sd2UnclipAndSgmStyleEncoder) {
  auto unclip = edited("sd2", [](auto& t) {
    t.push_back({"model.diffusion_model.label_emb.0.0.weight", DType::F16, {1280, 2048}});
    t.push_back({"model.diffusion_model.label_emb.0.2.weight", DType::F16, {1280, 1280}});
  });
  EXPECT_EQ(unclip.arch().variant, "sd2-unclip");
  const ModulePath* ce = find_path(unclip, Naming::Diffusers, "class_embedding.linear_1");
  ASSERT_NE(ce, nullptr);
  EXPECT_EQ(ce->binding.parts[0].tensor, "model.diffusion_model.label_emb.0.0.weight");

  // SD2 saved SGM-style: the ViT-H tower under conditioner.embedders.0.model.
  auto sgm = edited("sd2", [](auto& t) {
    for (auto& m : t)
      if (m.name.starts_with("cond_stage_model.model."))
        m.name = "conditioner.embedders.0.model." + m.name.substr(23);
  });
  EXPECT_EQ(sgm.arch().variant, "sd2");
  ASSERT_EQ(sgm.components().size(), 3u);
  EXPECT_EQ(sgm.components()[1].kind, ComponentKind::ClipH);
  EXPECT_EQ(sgm.components()[1].prefix, "conditioner.embedders.0.model.");
}

TEST(DetectVariants, OldSd1TextEncoderWithoutTextModel) {
  auto m = edited("sd1", [](auto& t) {
    const std::string p = "cond_stage_model.transformer.text_model.";
    for (auto& x : t)
      if (x.name.starts_with(p)) x.name = "cond_stage_model.transformer." + x.name.substr(p.size());
  });
  ASSERT_EQ(m.components().size(), 3u);
  EXPECT_EQ(m.components()[1].kind, ComponentKind::ClipL);
  EXPECT_EQ(m.components()[1].prefix, "cond_stage_model.transformer.");
  // Paths are uniform (text_model. inserted); bindings name the real keys.
  const ModulePath* q =
      find_path(m, Naming::HfClip, "text_model.encoder.layers.0.self_attn.q_proj");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->binding.parts[0].tensor,
            "cond_stage_model.transformer.encoder.layers.0.self_attn.q_proj.weight");
}

// A diffusers pipeline folder as io opens it: "<component>.<name>".
std::vector<TensorMeta> under(const std::string& prefix, const std::vector<TensorMeta>& ts,
                              const std::string& strip = "") {
  std::vector<TensorMeta> out;
  for (const auto& t : ts)
    if (t.name.starts_with(strip))
      out.push_back({prefix + t.name.substr(strip.size()), t.dtype, t.shape});
  return out;
}

TEST(DetectVariants, DiffusersPipelines) {
  auto sd3 = ModelIndex::reference("sd3").tensors();
  std::vector<TensorMeta> xl =
      under("unet.", testing::corpus_tensors("sdmecha_sdxl_diffusers_unet_only.txt"));
  auto add = [&](std::vector<TensorMeta>& to, std::vector<TensorMeta> more) {
    to.insert(to.end(), more.begin(), more.end());
  };
  add(xl, under("text_encoder.", sd3, "text_encoders.clip_l.transformer."));
  add(xl, under("text_encoder_2.", sd3, "text_encoders.clip_g.transformer."));
  add(xl, under("vae.", testing::corpus_tensors("invokeai_model_flux2_vae_bfl_keys.txt")));
  ModelIndex m = ModelIndex::from_tensors("sdxl-folder", xl);
  EXPECT_EQ(m.arch().variant, "sdxl");
  EXPECT_EQ(m.layout(), Layout::Diffusers);
  std::vector<std::string> comps;
  for (const auto& c : m.components())
    comps.push_back(std::string(component_name(c.kind)) + "@" + c.prefix);
  EXPECT_EQ(comps, (std::vector<std::string>{"diffusion_model@unet.", "clip_l@text_encoder.",
                                             "clip_g@text_encoder_2.", "vae@vae."}));
  // bigG in HF naming gets its OpenCLIP names.
  const ModulePath* in_proj =
      find_path(m, Naming::OpenClip, "transformer.resblocks.0.attn.in_proj_weight");
  ASSERT_NE(in_proj, nullptr);
  EXPECT_EQ(in_proj->binding.parts.size(), 3u);
  EXPECT_EQ(in_proj->binding.parts[1].tensor,
            "text_encoder_2.text_model.encoder.layers.0.self_attn.k_proj.weight");

  std::vector<TensorMeta> fx =
      under("transformer.",
            testing::corpus_tensors("forge_hf_flux1_dev_diffusers_transformer_index.txt"));
  add(fx, under("text_encoder.", sd3, "text_encoders.clip_l.transformer."));
  add(fx, under("text_encoder_2.",
                testing::corpus_tensors("forge_hf_flux1_t5xxl_text_encoder_2_index.txt")));
  ModelIndex f = ModelIndex::from_tensors("flux-folder", fx);
  EXPECT_EQ(f.arch().variant, "flux-dev");
  EXPECT_EQ(f.layout(), Layout::Diffusers);
  comps.clear();
  for (const auto& c : f.components())
    comps.push_back(std::string(component_name(c.kind)) + "@" + c.prefix);
  EXPECT_EQ(comps, (std::vector<std::string>{"diffusion_model@transformer.", "clip_l@text_encoder.",
                                             "t5xxl@text_encoder_2."}));
  const ModulePath* qkv = find_path(f, Naming::Original, "double_blocks.4.txt_attn.qkv");
  ASSERT_NE(qkv, nullptr);
  EXPECT_EQ(qkv->binding.parts[2].tensor,
            "transformer.transformer_blocks.4.attn.add_v_proj.weight");
}

}  // namespace
}  // namespace lorakit::model
