// Format labels (§4.2), the implied base and the compatibility guard (§3.4), out-of-scope files.
#include <gtest/gtest.h>

#include "adapter/format_label.hpp"
#include "adapter_fixtures.hpp"
#include "lorakit/error.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::testing {
namespace {

using adapter::Format;

constexpr const char* kSd1 = "arenasys_assembled_sd15_ldm_full.txt";
constexpr const char* kSd2 = "arenasys_assembled_sd21_ldm_full.txt";
constexpr const char* kSdxl = "arenasys_assembled_sdxl_base_ldm_full.txt";
constexpr const char* kSd3 = "sdmecha_sd3_comfyui.txt";
constexpr const char* kFlux = "sdmecha_flux_flux.txt";

Format label_of(std::initializer_list<const char*> keys, std::vector<io::MetadataEntry> md = {}) {
  std::vector<io::TensorInfo> t;
  for (const char* k : keys) t.push_back(io::TensorInfo{k, DType::F32, {1}, {1}, 1, 4, 0, 0});
  return adapter::detail::format_label(t, md).format;
}

TEST(AdapterFormat, LabelRulesInOrder) {
  EXPECT_EQ(label_of({"img_in.lora_A.weight", "single_blocks.0.norm.key_norm.scale"}),
            Format::BflControl);
  EXPECT_EQ(label_of({"img_in.lora_A.weight"}), Format::Unknown);
  EXPECT_EQ(label_of({"double_blocks.0.processor.qkv_lora1.down.weight"}), Format::XLabs);
  EXPECT_EQ(label_of({"base_model.model.x.lora_A.weight"}), Format::PeftRaw);
  EXPECT_EQ(label_of({"lycoris_x.lokr_w1"}), Format::SimpleTunerLycoris);
  EXPECT_EQ(label_of({"lora_transformer_x.lora_down.weight", "lora_te1_y.lora_down.weight"}),
            Format::OneTrainer);
  EXPECT_EQ(label_of({"lora_unet_x.lora_down.weight"}), Format::Kohya);
  EXPECT_EQ(label_of({"lora_te3_x.lora_down.weight"}), Format::Kohya);
  for (const char* k : {"lora_unet_x.hada_w1_a", "lora_unet_x.lokr_w1",
                        "lora_unet_x.lora_mid.weight", "lora_unet_x.diff", "lora_unet_x.oft_blocks",
                        "lora_unet_x.on_input", "lora_unet_x.a1.weight", "lora_unet_x.w_norm"})
    EXPECT_EQ(label_of({k}), Format::Lycoris) << k;
  EXPECT_EQ(label_of({"unet.a.processor.to_q_lora.down.weight"}), Format::DiffusersProcessor);
  EXPECT_EQ(label_of({"unet.a.lora.down.weight"}), Format::DiffusersNonPeft);
  EXPECT_EQ(label_of({"text_encoder.a.lora_linear_layer.down.weight"}), Format::DiffusersNonPeft);
  EXPECT_EQ(label_of({"transformer.a.lora_A.weight"}), Format::Peft);
  EXPECT_EQ(label_of({"text_encoder_2.a.lora_A.weight"}), Format::Peft);
  EXPECT_EQ(label_of({"diffusion_model.a.lora_A.weight"}), Format::ComfyGeneric);
  EXPECT_EQ(label_of({"text_encoders.clip_l.a.lora_A.weight"}), Format::ComfyGeneric);
  EXPECT_EQ(label_of({"a.b.lora_A.weight"}), Format::Unknown);
}

TEST(AdapterFormat, SubLabels) {
  std::vector<io::TensorInfo> t{{"lora_unet_x.dora_scale", DType::F32, {1}, {1}, 1, 4, 0, 0},
                                {"lora_unet_x.hada_w1_a", DType::F32, {1}, {1}, 1, 4, 0, 0}};
  EXPECT_EQ(adapter::detail::format_label(t, {}).label, "lycoris+dora");
  AdapterBuilder b;
  b.meta("software", R"({"name": "ai-toolkit", "version": "0.1"})");
  std::vector<io::TensorInfo> p{{"transformer.a.lora_A.weight", DType::F32, {1}, {1}, 1, 4, 0, 0}};
  EXPECT_EQ(adapter::detail::format_label(p, b.build()->metadata()).label, "peft (ai-toolkit)");
}

// The brief's example line: an SD1.5 adapter on SDXL stops before binding, naming both.
TEST(AdapterFormat, Sd1AdapterOnSdxlIsAClearMismatch) {
  AdapterBuilder b("/some/dir/style.safetensors");
  for (auto t : corpus_tensors("arenasys_toolkit_component_LoRA-v1A-UNET.txt")) {
    for (auto& d : t.shape)
      if (d == kAnyDim) d = 4;
    if (t.shape.empty())
      b.v(t.name, {}, {4});
    else
      b.t(t.name, t.shape);
  }
  auto a = adapter::parse(b.build(), corpus_base(kSdxl));
  EXPECT_EQ(a.report.trained_for, "sd1");
  EXPECT_EQ(a.report.trained_for_detail, "cross-attention dim 768");
  EXPECT_EQ(a.report.modules, 192u);
  EXPECT_EQ(a.report.matched, 0u);
  EXPECT_TRUE(a.modules.empty());
  EXPECT_EQ(a.report.compat_error,
            "style.safetensors: trained for sd1 (cross-attention dim 768), model is sdxl (2048): "
            "0 of 192 modules match");
}

TEST(AdapterFormat, ForceBindsAnywayAndStillReports) {
  auto a = adapter::parse(corpus_adapter("arenasys_toolkit_component_LoRA-v1A-UNET.txt"),
                          corpus_base(kSdxl), adapter::ParseOptions{.force = true});
  EXPECT_FALSE(a.report.compat_error.empty());
  EXPECT_FALSE(a.report.shape_mismatch.empty());  // every record is still shape-checked
  EXPECT_LT(a.report.matched, a.report.modules);
  EXPECT_NE(a.report.compat_error.find(std::to_string(a.report.matched) + " of 192 modules"),
            std::string::npos);
}

TEST(AdapterFormat, OtherMismatches) {
  // SDXL adapter on SD1; FLUX adapter on SDXL; SD3 adapter on FLUX.
  auto sdxl_on_sd1 = adapter::parse(
      shaped_for_model("issue_excerpts/comfy_5655_kohya_sdxl_ldm_named.txt", corpus_base(kSdxl)),
      corpus_base(kSd1));
  EXPECT_EQ(sdxl_on_sd1.report.compat_error,
            "comfy_5655_kohya_sdxl_ldm_named.txt: trained for sdxl (cross-attention dim 2048), "
            "model is sd1 (768): 0 of 11 modules match");
  auto flux_on_sdxl =
      adapter::parse(corpus_adapter("invokeai_flux_lora_kohya_format.txt"), corpus_base(kSdxl));
  EXPECT_NE(flux_on_sdxl.report.compat_error.find(
                "trained for flux (hidden 3072), model is sdxl (2048): 0 of"),
            std::string::npos)
      << flux_on_sdxl.report.compat_error;
  AdapterBuilder sd3;
  sd3.lora("lora_unet_joint_blocks_0_x_block_attn_qkv", 4608, 1536);
  auto sd3_on_flux = adapter::parse(sd3.build(), corpus_base(kFlux));
  EXPECT_EQ(sd3_on_flux.report.compat_error,
            "adapter.safetensors: trained for sd3 (hidden 1536), model is flux (3072): 0 of 1 "
            "modules match");
  // SD2 text-encoder adapter on SD1 (CLIP-L 768 only).
  AdapterBuilder te;
  te.lora("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 1024, 1024);
  auto te_on_sd1 = adapter::parse(te.build(), corpus_base(kSd1));
  EXPECT_NE(te_on_sd1.report.compat_error.find("trained for sd2 (text-encoder width 1024)"),
            std::string::npos);
  // …and on SD2 it binds.
  EXPECT_TRUE(adapter::parse(te.build(), corpus_base(kSd2)).report.compat_error.empty());
}

TEST(AdapterFormat, OutOfScopeAdaptersAreUnknownAndBindNothing) {
  for (const char* f :
       {"invokeai_anima_lora_kohya_format.txt", "invokeai_anima_lora_kohya_with_te_format.txt",
        "invokeai_anima_lora_lokr_format.txt", "invokeai_anima_lora_peft_format.txt",
        "invokeai_krea2_lora_kohya_format.txt", "invokeai_qwen_image_lora_diffusers_format.txt",
        "invokeai_qwen_image_lora_kohya_format.txt"}) {
    for (const char* base : {kFlux, kSdxl, kSd3}) {
      auto a = adapter::parse(corpus_adapter(f), corpus_base(base));
      SCOPED_TRACE(std::string(f) + " on " + base + "\n" + report_summary(a.report));
      EXPECT_EQ(a.report.trained_for, "unknown");
      EXPECT_GT(a.report.modules, 0u);
      EXPECT_EQ(a.report.matched, 0u);
      EXPECT_TRUE(a.modules.empty());
      bool said = false;
      for (const auto& w : a.report.warnings) said |= w.find("no record") != std::string::npos;
      EXPECT_TRUE(said);
    }
  }
  for (const char* f : {"issue_excerpts/lycoris_comfy_6_loha_lycoris_prefix_zimage.txt",
                        "issue_excerpts/simpletuner_3222_lycoris_dokr_krea2.txt"}) {
    auto a = adapter::parse(shaped_for_model(f, corpus_base(kFlux)), corpus_base(kFlux));
    EXPECT_EQ(a.report.trained_for, "unknown") << f;
    EXPECT_EQ(a.report.matched, 0u) << f;
    EXPECT_EQ(a.report.unmatched.size(), a.report.modules) << f;
  }
}

TEST(AdapterFormat, OutOfScopeModelsRefuseToBind) {
  for (const char* m : {"invokeai_model_flux2_transformer_bfl_keys.txt",
                        "invokeai_model_z_image_transformer_comfyui_keys.txt",
                        "invokeai_model_anima_comfyui_keys.txt"}) {
    auto model = corpus_model(m);
    ASSERT_EQ(model.arch().family, model::Family::Unknown) << m;
    try {
      adapter::parse(corpus_adapter("invokeai_flux_lora_kohya_format.txt"), model);
      ADD_FAILURE() << m << ": no error";
    } catch (const FormatError& e) {
      EXPECT_EQ(e.category(), "unsupported_model") << m;
    }
  }
}

// Issue excerpts whose names no template of §6.3 produces: reported, not guessed.
TEST(AdapterFormat, UnbindableIssueExcerptsAreReported) {
  // Mixed '_' and '.' separators (ComfyUI#3494) and SimpleTuner's early trailing underscore
  // (ComfyUI#4347).
  struct C {
    const char* file;
    const char* base;
  };
  for (const C c : {C{"issue_excerpts/comfy_3494_peft_dora_magnitude_mixed_sep.txt", kSdxl},
                    C{"issue_excerpts/comfy_4347_simpletuner_flux.txt", kFlux}}) {
    auto a = adapter::parse(shaped_for_model(c.file, corpus_base(c.base)), corpus_base(c.base));
    SCOPED_TRACE(report_summary(a.report));
    EXPECT_EQ(a.report.matched, 0u);
    EXPECT_EQ(a.report.unmatched.size(), a.report.modules);
    EXPECT_TRUE(a.report.unused_keys.empty());
  }
  // DoRA magnitudes cut from their LoRA keys: every prefix binds, every record is incomplete.
  auto a =
      adapter::parse(shaped_for_model("issue_excerpts/comfy_3060_lycoris_dora_sdxl_ldm_named.txt",
                                      corpus_base(kSdxl)),
                     corpus_base(kSdxl));
  EXPECT_TRUE(a.report.unmatched.empty());
  EXPECT_EQ(a.report.incomplete.size(), a.report.modules);
  EXPECT_EQ(a.report.modules, 16u);
}

}  // namespace
}  // namespace lorakit::testing
