// Synthetic adapters of every naming family and adapter type (lora-formats.md §4, §5.2, §8), bound
// to base layouts from the shared corpus.
#include <gtest/gtest.h>

#include "adapter_fixtures.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::testing {
namespace {

using adapter::Kind;
using adapter::Module;
using Shape = std::vector<uint64_t>;

constexpr const char* kSd1 = "arenasys_assembled_sd15_ldm_full.txt";
constexpr const char* kSd2 = "arenasys_assembled_sd21_ldm_full.txt";
constexpr const char* kSdxl = "arenasys_assembled_sdxl_base_ldm_full.txt";
constexpr const char* kSd3 = "sdmecha_sd3_comfyui.txt";
constexpr const char* kFlux = "sdmecha_flux_flux.txt";

const std::string kUnet = "model.diffusion_model.";
const std::string kAttn1 = "input_blocks.1.1.transformer_blocks.0.attn1.";

const Module* module(const adapter::Adapter& a, std::string_view prefix) {
  for (const auto& m : a.modules)
    if (m.prefix == prefix) return &m;
  return nullptr;
}

adapter::Adapter parse(const AdapterBuilder& b, const char* base) {
  return adapter::parse(b.build(), corpus_base(base));
}

// One record expected to bind to `tensor` (whole) as `kind`.
void expect_one(const adapter::Adapter& a, std::string_view prefix, Kind kind,
                const std::string& tensor, std::optional<model::RowSlice> rows = std::nullopt) {
  SCOPED_TRACE(report_summary(a.report));
  const Module* m = module(a, prefix);
  ASSERT_NE(m, nullptr) << prefix;
  EXPECT_EQ(m->kind, kind);
  ASSERT_EQ(m->target.parts.size(), 1u);
  EXPECT_EQ(m->target.parts[0].tensor, tensor);
  EXPECT_EQ(m->target.parts[0].rows, rows);
  EXPECT_EQ(a.report.matched, a.report.modules);
}

// ---- Naming families, SD1 ----------------------------------------------------------------

TEST(AdapterFamilies, KohyaDiffusersNamedAndLdmNamed) {
  AdapterBuilder b;
  b.lora("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320)
      .alpha("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 2)
      .lora("lora_unet_input_blocks_1_1_proj_in", 320, 320)  // 2-D LoRA on a 1×1 conv (§8.0)
      .lora("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768);
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.format, adapter::Format::Kohya);
  expect_one(a, "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", Kind::LoRA,
             kUnet + kAttn1 + "to_q.weight");
  expect_one(a, "lora_unet_input_blocks_1_1_proj_in", Kind::LoRA,
             kUnet + "input_blocks.1.1.proj_in.weight");
  expect_one(a, "lora_te_text_model_encoder_layers_0_self_attn_q_proj", Kind::LoRA,
             "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight");
  EXPECT_FLOAT_EQ(a.modules[0].alpha_scale, 0.5f);
  EXPECT_EQ(a.modules[0].rank, 4u);
}

TEST(AdapterFamilies, DiffusersProcessorNonPeftAndLinearLayer) {
  const std::string blk = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.";
  AdapterBuilder b;
  b.lora("unet." + blk + "processor.to_out", 320, 320, 4, "_lora.down.weight", "_lora.up.weight")
      .lora(blk + "processor.to_k", 320, 320, 4, "_lora.down.weight", "_lora.up.weight")
      .lora("unet.down_blocks.0.attentions.0.proj_in", 320, 320, 4, ".lora.down.weight",
            ".lora.up.weight")
      .lora("text_encoder.text_model.encoder.layers.0.self_attn.q_proj", 768, 768, 4,
            ".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight");
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.format, adapter::Format::DiffusersProcessor);
  expect_one(a, "unet." + blk + "processor.to_out", Kind::LoRA, kUnet + kAttn1 + "to_out.0.weight");
  expect_one(a, blk + "processor.to_k", Kind::LoRA, kUnet + kAttn1 + "to_k.weight");
  expect_one(a, "unet.down_blocks.0.attentions.0.proj_in", Kind::LoRA,
             kUnet + "input_blocks.1.1.proj_in.weight");
  expect_one(a, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj", Kind::LoRA,
             "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight");
}

TEST(AdapterFamilies, PeftPlainNamedBareRawAndComfy) {
  const std::string blk = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.";
  AdapterBuilder b;
  b.lora("unet." + blk + "to_k", 320, 320, 8, ".lora_A.weight", ".lora_B.weight")
      .lora(blk + "to_v", 320, 320, 8, ".lora_A.default.weight", ".lora_B.default.weight")
      .lora("unet." + blk + "to_q", 320, 320, 8, ".lora_A", ".lora_B")
      .lora("base_model.model." + blk + "to_out.0", 320, 320, 8, ".lora_A.weight", ".lora_B.weight")
      .t("base_model.model." + blk + "to_out.0.lora_B.bias", {320})
      .t("base_model.model." + blk + "to_out.0.lora_A.bias", {8})
      .lora("diffusion_model.input_blocks.1.1.proj_out", 320, 320, 8)
      .lora("text_encoders.clip_l.transformer.text_model.encoder.layers.0.mlp.fc1", 3072, 768, 8,
            ".lora_A.weight", ".lora_B.weight");
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.format, adapter::Format::PeftRaw);
  expect_one(a, "unet." + blk + "to_k", Kind::LoRA, kUnet + kAttn1 + "to_k.weight");
  expect_one(a, blk + "to_v", Kind::LoRA, kUnet + kAttn1 + "to_v.weight");
  expect_one(a, "unet." + blk + "to_q", Kind::LoRA, kUnet + kAttn1 + "to_q.weight");
  expect_one(a, "base_model.model." + blk + "to_out.0", Kind::LoRA,
             kUnet + kAttn1 + "to_out.0.weight");
  EXPECT_TRUE(module(a, "base_model.model." + blk + "to_out.0")->bias.contains("lora_B.bias"));
  EXPECT_TRUE(module(a, "base_model.model." + blk + "to_out.0")->bias.contains("lora_A.bias"));
  expect_one(a, "diffusion_model.input_blocks.1.1.proj_out", Kind::LoRA,
             kUnet + "input_blocks.1.1.proj_out.weight");
  expect_one(a, "text_encoders.clip_l.transformer.text_model.encoder.layers.0.mlp.fc1", Kind::LoRA,
             "cond_stage_model.transformer.text_model.encoder.layers.0.mlp.fc1.weight");
}

// ---- Adapter types (LyCORIS), SD1 ---------------------------------------------------------

TEST(AdapterTypes, LoConTuckerAndConvShapes) {
  const std::string conv = "lora_unet_down_blocks_0_resnets_0_conv1";  // [320, 320, 3, 3]
  const std::string conv2 = "lora_unet_down_blocks_0_resnets_0_conv2";
  AdapterBuilder b;
  b.t(conv + ".lora_down.weight", {8, 320, 3, 3}).t(conv + ".lora_up.weight", {320, 8, 1, 1});
  b.t(conv2 + ".lora_down.weight", {8, 320, 1, 1})
      .t(conv2 + ".lora_mid.weight", {8, 8, 3, 3})
      .t(conv2 + ".lora_up.weight", {320, 8, 1, 1});
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.format, adapter::Format::Lycoris);  // lora_mid is LyCORIS-only
  expect_one(a, conv, Kind::LoRA, kUnet + "input_blocks.1.0.in_layers.2.weight");
  expect_one(a, conv2, Kind::LoRA, kUnet + "input_blocks.1.0.out_layers.3.weight");
  EXPECT_TRUE(module(a, conv2)->factors.contains("mid"));
}

TEST(AdapterTypes, LoHaPlainAndTucker) {
  const std::string lin = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  const std::string conv = "lora_unet_down_blocks_0_resnets_0_conv1";
  AdapterBuilder b;
  // Plain: w1a [out, r], w1b [r, in]; ΔW [320, 768].
  b.t(lin + ".hada_w1_a", {320, 8}).t(lin + ".hada_w1_b", {8, 768});
  b.t(lin + ".hada_w2_a", {320, 8}).t(lin + ".hada_w2_b", {8, 768}).alpha(lin, 4);
  // Tucker on a 3×3 conv: w_a [r, out], w_b [r, in], t [r, r, 3, 3].
  b.t(conv + ".hada_w1_a", {6, 320})
      .t(conv + ".hada_w1_b", {6, 320})
      .t(conv + ".hada_t1", {6, 6, 3, 3});
  b.t(conv + ".hada_w2_a", {6, 320})
      .t(conv + ".hada_w2_b", {6, 320})
      .t(conv + ".hada_t2", {6, 6, 3, 3});
  auto a = parse(b, kSd1);
  expect_one(a, lin, Kind::LoHa, kUnet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight");
  expect_one(a, conv, Kind::LoHa, kUnet + "input_blocks.1.0.in_layers.2.weight");
  EXPECT_EQ(module(a, lin)->rank, 8u);
  EXPECT_FLOAT_EQ(module(a, lin)->alpha_scale, 0.5f);
  EXPECT_EQ(a.report.trained_for, "sd1");  // LoHa attn2.to_k: w1b's input width 768
}

TEST(AdapterTypes, LoKrVariants) {
  const std::string whole = "lora_unet_down_blocks_0_attentions_0_proj_in";   // [320,320,1,1]
  const std::string split = "lora_unet_down_blocks_0_attentions_0_proj_out";  // [320,320,1,1]
  const std::string tucker = "lora_unet_down_blocks_0_resnets_0_conv1";       // [320,320,3,3]
  const std::string four = "lora_unet_down_blocks_0_resnets_0_conv2";         // [320,320,3,3]
  const std::string lin = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2";
  AdapterBuilder b;
  b.t(whole + ".lokr_w1", {4, 4}).t(whole + ".lokr_w2", {80, 80}).alpha(whole, 8);
  b.t(split + ".lokr_w1_a", {4, 2}).t(split + ".lokr_w1_b", {2, 4});
  b.t(split + ".lokr_w2_a", {80, 8}).t(split + ".lokr_w2_b", {8, 80}).alpha(split, 4);
  b.t(tucker + ".lokr_w1", {4, 4})
      .t(tucker + ".lokr_w2_a", {8, 80})
      .t(tucker + ".lokr_w2_b", {8, 80});
  b.t(tucker + ".lokr_t2", {8, 8, 3, 3});
  b.t(four + ".lokr_w1", {4, 4}).t(four + ".lokr_w2", {80, 80, 3, 3});
  b.t(lin + ".lokr_w1", {4, 4}).t(lin + ".lokr_w2_a", {80, 16}).t(lin + ".lokr_w2_b", {16, 320});
  auto a = parse(b, kSd1);
  expect_one(a, whole, Kind::LoKr, kUnet + "input_blocks.1.1.proj_in.weight");
  expect_one(a, split, Kind::LoKr, kUnet + "input_blocks.1.1.proj_out.weight");
  expect_one(a, tucker, Kind::LoKr, kUnet + "input_blocks.1.0.in_layers.2.weight");
  expect_one(a, four, Kind::LoKr, kUnet + "input_blocks.1.0.out_layers.3.weight");
  expect_one(a, lin, Kind::LoKr, kUnet + "input_blocks.1.1.transformer_blocks.0.ff.net.2.weight");
  // γ: whole factors ignore alpha; d = w2_b.shape[0] overrides w1_b's.
  EXPECT_FLOAT_EQ(module(a, whole)->alpha_scale, 1.0f);
  EXPECT_EQ(module(a, split)->rank, 8u);
  EXPECT_FLOAT_EQ(module(a, split)->alpha_scale, 0.5f);
}

TEST(AdapterTypes, GLoRANewAndOld) {
  const std::string lin = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  const std::string sq = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  AdapterBuilder b;
  // New layout on [320, 768]: a1 [in, r], a2 [r, in], b1 [out, r], b2 [r, in].
  b.t(lin + ".a1.weight", {768, 4}).t(lin + ".a2.weight", {4, 768});
  b.t(lin + ".b1.weight", {320, 4}).t(lin + ".b2.weight", {4, 768});
  // Old layout on the square [320, 320]: a1 [r, in], a2 [in, r], b1 [r, in], b2 [out, r].
  b.t(sq + ".a1.weight", {4, 320}).t(sq + ".a2.weight", {320, 4});
  b.t(sq + ".b1.weight", {4, 320}).t(sq + ".b2.weight", {320, 4}).alpha(sq, 2);
  auto a = parse(b, kSd1);
  expect_one(a, lin, Kind::GLoRA,
             kUnet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight");
  expect_one(a, sq, Kind::GLoRA, kUnet + kAttn1 + "to_q.weight");
  EXPECT_FALSE(module(a, lin)->glora_old);
  // Both tests pass for sq (all dims 4 or 320 line up), and a2.shape[0] = 320 = rows on a square
  // target: the old layout (§8.5).
  EXPECT_TRUE(module(a, sq)->glora_old);
  EXPECT_EQ(module(a, sq)->rank, 4u);
  EXPECT_FLOAT_EQ(module(a, sq)->alpha_scale, 0.5f);
}

TEST(AdapterTypes, OftAndBoft) {
  const std::string oft = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  const std::string boft = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k";
  const std::string bad = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v";
  AdapterBuilder b;
  b.t(oft + ".oft_blocks", {10, 32, 32}).t(oft + ".rescale", {320, 1}).alpha(oft, 0.5);
  b.t(boft + ".oft_blocks", {2, 20, 16, 16});
  b.t(bad + ".oft_blocks", {3, 32, 32});  // 96 rows, not 320
  auto a = parse(b, kSd1);
  SCOPED_TRACE(report_summary(a.report));
  ASSERT_NE(module(a, oft), nullptr);
  EXPECT_EQ(module(a, oft)->kind, Kind::OFT);
  EXPECT_FLOAT_EQ(*module(a, oft)->alpha, 0.5f);
  EXPECT_FLOAT_EQ(module(a, oft)->alpha_scale, 160.0f);  // provisional c = α·out (§13.1)
  ASSERT_NE(module(a, boft), nullptr);
  EXPECT_EQ(module(a, boft)->kind, Kind::BOFT);
  EXPECT_FLOAT_EQ(module(a, boft)->alpha_scale, 0.0f);  // no alpha: no constraint
  EXPECT_EQ(module(a, bad), nullptr);
  ASSERT_EQ(a.report.invalid.size(), 1u);
  EXPECT_NE(a.report.invalid[0].find("do not cover 320 rows"), std::string::npos);
}

TEST(AdapterTypes, Ia3FullNormSet) {
  const std::string k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  const std::string ff = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2";
  const std::string full = "lora_unet_down_blocks_0_attentions_0_proj_in";
  const std::string norm = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_norm1";
  const std::string set = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_norm2";
  AdapterBuilder b;
  b.t(k + ".weight", {768}).v(k + ".on_input", {}, {1}, DType::BOOL);  // input axis: 768
  b.t(ff + ".weight", {320}).v(ff + ".on_input", {}, {0});             // output axis: 320
  b.t(full + ".diff", {320, 320, 1, 1}).t(full + ".diff_b", {320});
  b.t(norm + ".w_norm", {320}).t(norm + ".b_norm", {320});
  b.t(set + ".set_weight", {320});
  auto a = parse(b, kSd1);
  expect_one(a, k, Kind::IA3, kUnet + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight");
  expect_one(a, ff, Kind::IA3, kUnet + "input_blocks.1.1.transformer_blocks.0.ff.net.2.weight");
  expect_one(a, full, Kind::Full, kUnet + "input_blocks.1.1.proj_in.weight");
  EXPECT_TRUE(module(a, full)->bias.contains("diff_b"));
  expect_one(a, norm, Kind::Norm, kUnet + "input_blocks.1.1.transformer_blocks.0.norm1.weight");
  EXPECT_TRUE(module(a, norm)->bias.contains("b_norm"));
  expect_one(a, set, Kind::Set, kUnet + "input_blocks.1.1.transformer_blocks.0.norm2.weight");
  EXPECT_EQ(a.report.kinds.at(Kind::IA3), 2u);
  EXPECT_EQ(a.report.format, adapter::Format::Lycoris);
}

TEST(AdapterTypes, Ia3VectorMustFitItsAxis) {
  const std::string k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  AdapterBuilder b;
  b.t(k + ".weight", {768}).v(k + ".on_input", {}, {0});  // output axis has 320, not 768
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.matched, 0u);
  ASSERT_EQ(a.report.shape_mismatch.size(), 1u);
  EXPECT_EQ(a.report.shape_mismatch[0].key, k + ".weight");
}

TEST(AdapterTypes, DoraAxes) {
  const std::string out = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  const std::string in = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v";
  const std::string one = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  const std::string bad = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k";
  const std::string peft = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v";
  AdapterBuilder b;
  b.lora(out, 320, 768).t(out + ".dora_scale", {320, 1});
  b.lora(in, 320, 768).t(in + ".dora_scale", {1, 768});
  b.lora(one, 320, 320).t(one + ".dora_scale", {320});  // square target: output, with a warning
  b.lora(bad, 320, 320).t(bad + ".dora_scale", {1, 300});
  b.lora(peft, 320, 320, 4, ".lora_A.weight", ".lora_B.weight")
      .t(peft + ".lora_magnitude_vector", {320});
  auto a = parse(b, kSd1);
  SCOPED_TRACE(report_summary(a.report));
  using Ax = Module::DoraAxis;
  EXPECT_EQ(module(a, out)->dora_axis, Ax::Output);
  EXPECT_EQ(module(a, in)->dora_axis, Ax::Input);
  EXPECT_EQ(module(a, one)->dora_axis, Ax::Output);
  EXPECT_EQ(module(a, peft)->dora_axis, Ax::Output);
  EXPECT_EQ(module(a, bad), nullptr);
  ASSERT_EQ(a.report.shape_mismatch.size(), 1u);
  EXPECT_EQ(a.report.shape_mismatch[0].key, bad + ".dora_scale");
  bool warned = false;
  for (const auto& w : a.report.warnings) warned |= w.find("square target") != std::string::npos;
  EXPECT_TRUE(warned);
  EXPECT_EQ(a.report.format_label, "kohya+dora");
}

// ---- Text encoders: OpenCLIP slices and transposes ---------------------------------------

TEST(AdapterFamilies, Sd2TextEncoderOnOpenClipSlices) {
  AdapterBuilder b;
  b.lora("lora_te_text_model_encoder_layers_0_self_attn_k_proj", 1024, 1024)
      .lora("text_encoder.text_model.encoder.layers.3.self_attn.v_proj", 1024, 1024, 4,
            ".lora_A.weight", ".lora_B.weight")
      .lora("lora_te_text_model_encoder_layers_0_mlp_fc1", 4096, 1024);
  auto a = parse(b, kSd2);
  const std::string oc = "cond_stage_model.model.transformer.resblocks.";
  expect_one(a, "lora_te_text_model_encoder_layers_0_self_attn_k_proj", Kind::LoRA,
             oc + "0.attn.in_proj_weight", model::RowSlice{1024, 2048});
  expect_one(a, "text_encoder.text_model.encoder.layers.3.self_attn.v_proj", Kind::LoRA,
             oc + "3.attn.in_proj_weight", model::RowSlice{2048, 3072});
  expect_one(a, "lora_te_text_model_encoder_layers_0_mlp_fc1", Kind::LoRA,
             oc + "0.mlp.c_fc.weight");
  EXPECT_EQ(a.report.trained_for, "sd2");  // TE-only: ViT-H width 1024
  EXPECT_TRUE(a.report.compat_error.empty());
}

TEST(AdapterFamilies, SdxlTextEncodersAndProjectionTranspose) {
  AdapterBuilder b;
  b.lora("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768)
      .lora("lora_te2_text_model_encoder_layers_9_self_attn_k_proj", 1280, 1280)
      .lora("text_encoder_2.text_model.encoder.layers.9.mlp.fc2", 1280, 5120, 4, ".lora_A.weight",
            ".lora_B.weight")
      .lora("lora_te2_text_projection", 1280, 1280);
  auto a = parse(b, kSdxl);
  const std::string g = "conditioner.embedders.1.model.";
  expect_one(
      a, "lora_te1_text_model_encoder_layers_0_self_attn_q_proj", Kind::LoRA,
      "conditioner.embedders.0.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight");
  expect_one(a, "lora_te2_text_model_encoder_layers_9_self_attn_k_proj", Kind::LoRA,
             g + "transformer.resblocks.9.attn.in_proj_weight", model::RowSlice{1280, 2560});
  expect_one(a, "text_encoder_2.text_model.encoder.layers.9.mlp.fc2", Kind::LoRA,
             g + "transformer.resblocks.9.mlp.c_proj.weight");
  expect_one(a, "lora_te2_text_projection", Kind::LoRA, g + "text_projection");
  EXPECT_EQ(module(a, "lora_te2_text_projection")->target.transform,
            model::DeltaTransform::Transpose);
}

TEST(AdapterFamilies, Sd3KohyaDiffusersOneTrainerAndT5) {
  AdapterBuilder b;
  b.lora("lora_unet_joint_blocks_0_x_block_attn_qkv", 4608, 1536)
      .lora("transformer.transformer_blocks.1.attn.to_k", 1536, 1536, 4, ".lora_A.weight",
            ".lora_B.weight")
      .lora("lora_transformer_transformer_blocks_2_attn_add_v_proj", 1536, 1536)
      .lora("lora_te3_encoder_block_0_layer_0_SelfAttention_q", 4096, 4096)
      .lora("lora_te1_text_projection", 768, 768)
      .lora("lora_te2_text_model_encoder_layers_0_self_attn_q_proj", 1280, 1280);
  auto a = parse(b, kSd3);
  const std::string d = "model.diffusion_model.joint_blocks.";
  expect_one(a, "lora_unet_joint_blocks_0_x_block_attn_qkv", Kind::LoRA,
             d + "0.x_block.attn.qkv.weight");
  expect_one(a, "transformer.transformer_blocks.1.attn.to_k", Kind::LoRA,
             d + "1.x_block.attn.qkv.weight", model::RowSlice{1536, 3072});
  expect_one(a, "lora_transformer_transformer_blocks_2_attn_add_v_proj", Kind::LoRA,
             d + "2.context_block.attn.qkv.weight", model::RowSlice{3072, 4608});
  expect_one(a, "lora_te3_encoder_block_0_layer_0_SelfAttention_q", Kind::LoRA,
             "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.q.weight");
  expect_one(a, "lora_te1_text_projection", Kind::LoRA,
             "text_encoders.clip_l.transformer.text_projection.weight");
  expect_one(
      a, "lora_te2_text_model_encoder_layers_0_self_attn_q_proj", Kind::LoRA,
      "text_encoders.clip_g.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight");
  EXPECT_EQ(a.report.trained_for, "sd3");
  EXPECT_EQ(a.report.trained_for_detail, "hidden 1536");
}

// ---- FLUX families -------------------------------------------------------------------------

const std::string kFluxD = "model.diffusion_model.";

TEST(AdapterFamilies, FluxXLabsKeyByKey) {
  AdapterBuilder b;
  // Only one double and one single block: partial XLabs files bind key by key (§7.6).
  b.lora("double_blocks.4.processor.qkv_lora1", 9216, 3072, 16, ".down.weight", ".up.weight")
      .lora("double_blocks.4.processor.proj_lora2", 3072, 3072, 16, ".down.weight", ".up.weight")
      .lora("single_blocks.7.processor.qkv_lora", 9216, 3072, 16, ".down.weight", ".up.weight")
      .lora("single_blocks.7.processor.proj_lora", 3072, 15360, 16, ".down.weight", ".up.weight");
  auto a = parse(b, kFlux);
  EXPECT_EQ(a.report.format, adapter::Format::XLabs);
  expect_one(a, "double_blocks.4.processor.qkv_lora1", Kind::LoRA,
             kFluxD + "double_blocks.4.img_attn.qkv.weight");
  expect_one(a, "double_blocks.4.processor.proj_lora2", Kind::LoRA,
             kFluxD + "double_blocks.4.txt_attn.proj.weight");
  expect_one(a, "single_blocks.7.processor.qkv_lora", Kind::LoRA,
             kFluxD + "single_blocks.7.linear1.weight", model::RowSlice{0, 9216});
  expect_one(a, "single_blocks.7.processor.proj_lora", Kind::LoRA,
             kFluxD + "single_blocks.7.linear2.weight");
  EXPECT_EQ(a.report.trained_for, "flux");
}

TEST(AdapterFamilies, FluxBflControlRawNormsBiasAndImplicitReshape) {
  AdapterBuilder b("control.safetensors");
  b.lora("img_in", 3072, 128, 128, ".lora_A.weight", ".lora_B.weight")
      .t("img_in.lora_B.bias", {3072})
      .lora("double_blocks.0.img_attn.qkv", 9216, 3072, 128, ".lora_A.weight", ".lora_B.weight")
      .t("double_blocks.0.img_attn.qkv.lora_B.bias", {9216})
      .t("double_blocks.0.img_attn.norm.key_norm.scale", {128})
      .t("single_blocks.3.norm.query_norm.scale", {128});
  auto a = parse(b, kFlux);
  SCOPED_TRACE(report_summary(a.report));
  EXPECT_EQ(a.report.format, adapter::Format::BflControl);
  expect_one(a, "img_in", Kind::LoRA, kFluxD + "img_in.weight");
  EXPECT_EQ(module(a, "img_in")->reshape_weight, (Shape{3072, 128}));
  expect_one(a, "double_blocks.0.img_attn.norm.key_norm.scale", Kind::Set,
             kFluxD + "double_blocks.0.img_attn.norm.key_norm.scale");
  expect_one(a, "single_blocks.3.norm.query_norm.scale", Kind::Set,
             kFluxD + "single_blocks.3.norm.query_norm.scale");
  EXPECT_TRUE(module(a, "double_blocks.0.img_attn.qkv")->bias.contains("lora_B.bias"));
}

TEST(AdapterFamilies, ReshapeWeightOnlyWidensFluxImgIn) {
  AdapterBuilder b;
  b.lora("diffusion_model.img_in", 3072, 128, 16, ".lora_A.weight", ".lora_B.weight")
      .v("diffusion_model.img_in.reshape_weight", {2}, {3072, 128}, DType::I64)
      .lora("diffusion_model.txt_in", 3072, 8192, 16, ".lora_A.weight", ".lora_B.weight")
      .v("diffusion_model.txt_in.reshape_weight", {2}, {3072, 8192}, DType::I64);
  auto a = parse(b, kFlux);
  SCOPED_TRACE(report_summary(a.report));
  ASSERT_NE(module(a, "diffusion_model.img_in"), nullptr);
  EXPECT_EQ(module(a, "diffusion_model.img_in")->reshape_weight, (Shape{3072, 128}));
  EXPECT_EQ(module(a, "diffusion_model.txt_in"), nullptr);
  ASSERT_EQ(a.report.shape_mismatch.size(), 1u);
  EXPECT_EQ(a.report.shape_mismatch[0].key, "diffusion_model.txt_in");
}

TEST(AdapterFamilies, FluxWithoutReshapeWeightImgInMismatches) {
  // The same wide img_in outside a BFL Control file: no implied padding.
  AdapterBuilder b;
  b.lora("diffusion_model.img_in", 3072, 128, 16, ".lora_A.weight", ".lora_B.weight");
  auto a = parse(b, kFlux);
  EXPECT_EQ(a.report.matched, 0u);
  ASSERT_EQ(a.report.shape_mismatch.size(), 1u);
  EXPECT_EQ(a.report.shape_mismatch[0].shape, (Shape{3072, 128}));
  EXPECT_EQ(a.report.shape_mismatch[0].target_shape, (Shape{3072, 64}));
}

TEST(AdapterFamilies, FluxSwapScaleShiftAndTextEncoders) {
  AdapterBuilder b;
  b.lora("transformer.norm_out.linear", 6144, 3072, 8, ".lora_A.weight", ".lora_B.weight")
      .lora("lora_unet_final_layer_adaLN_modulation_1", 6144, 3072, 8)
      .lora("lora_te2_encoder_block_0_layer_0_SelfAttention_k", 4096, 4096)
      .lora("lora_te1_text_model_encoder_layers_0_self_attn_q_proj", 768, 768);
  auto a = parse(b, kFlux);
  SCOPED_TRACE(report_summary(a.report));
  const Module* swap = module(a, "transformer.norm_out.linear");
  ASSERT_NE(swap, nullptr);
  EXPECT_EQ(swap->target.parts[0].tensor, kFluxD + "final_layer.adaLN_modulation.1.weight");
  EXPECT_EQ(swap->target.transform, model::DeltaTransform::SwapScaleShift);
  EXPECT_EQ(module(a, "lora_unet_final_layer_adaLN_modulation_1")->target.transform,
            model::DeltaTransform::None);
  // Both records write the same rows: flagged, both applied.
  EXPECT_EQ(a.report.duplicate_bindings.size(), 1u);
  expect_one(a, "lora_te2_encoder_block_0_layer_0_SelfAttention_k", Kind::LoRA,
             "text_encoders.t5xxl.transformer.encoder.block.0.layer.0.SelfAttention.k.weight");
  expect_one(
      a, "lora_te1_text_model_encoder_layers_0_self_attn_q_proj", Kind::LoRA,
      "text_encoders.clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight");
}

TEST(AdapterFamilies, SimpleTunerLycorisOnFluxAndSd1) {
  AdapterBuilder b;
  b.t("lycoris_single_transformer_blocks_0_attn_to_k.lokr_w1", {4, 4})
      .t("lycoris_single_transformer_blocks_0_attn_to_k.lokr_w2", {768, 768})
      .t("lycoris_double_blocks_1_img_mlp_0.lokr_w1", {4, 4})
      .t("lycoris_double_blocks_1_img_mlp_0.lokr_w2", {3072, 768});
  auto a = parse(b, kFlux);
  EXPECT_EQ(a.report.format, adapter::Format::SimpleTunerLycoris);
  expect_one(a, "lycoris_single_transformer_blocks_0_attn_to_k", Kind::LoKr,
             kFluxD + "single_blocks.0.linear1.weight", model::RowSlice{3072, 6144});
  expect_one(a, "lycoris_double_blocks_1_img_mlp_0", Kind::LoKr,
             kFluxD + "double_blocks.1.img_mlp.0.weight");
}

// ---- Report lists ---------------------------------------------------------------------------

TEST(AdapterReport, ConflictsIncompleteUnusedUnsupported) {
  const std::string p = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_";
  AdapterBuilder b;
  b.lora(p + "attn1_to_q", 320, 320).t(p + "attn1_to_q.hada_w1_a", {320, 4});  // lora + loha
  b.t(p + "attn1_to_k.lora_down.weight", {4, 320}).t(p + "attn1_to_k.lora_B.weight", {320, 4});
  b.lora(p + "attn1_to_v", 320, 320).t(p + "attn1_to_v.diff", {320, 320});  // lora + full
  b.t(p + "attn2_to_q.lora_down.weight", {4, 320});                         // no up
  b.alpha(p + "attn2_to_k", 4);                                             // alpha alone
  b.t(p + "attn2_to_v.lokr_w1", {4, 4});                                    // no w2
  b.t(p + "attn2_to_out_0.hada_w1_a", {320, 4}).t(p + "attn2_to_out_0.hada_w1_b", {4, 320});
  b.t(p + "attn2_to_out_0.hada_w2_a", {320, 4}).t(p + "attn2_to_out_0.hada_w2_b", {4, 320});
  b.t(p + "attn2_to_out_0.hada_t1", {4, 4, 1, 1});                        // t1 without t2
  b.t("lora_unet_something_else.lora_down.weight", {4, 4});               // no alias
  b.t("vae.decoder.conv_in.lora_down.weight", {4, 4});                    // VAE
  b.lora(p + "ff_net_2", 320, 1280).t(p + "ff_net_2.bias_indices", {8});  // sparse bias
  b.t("random_tensor", {3});                                              // no suffix
  auto a = parse(b, kSd1);
  const auto& r = a.report;
  SCOPED_TRACE(report_summary(r));
  EXPECT_EQ(r.matched, 0u);
  EXPECT_EQ(r.modules, 10u);
  ASSERT_EQ(r.conflicts.size(), 3u);
  EXPECT_NE(r.conflicts[0].find("mixes adapter types lora and loha"), std::string::npos);
  EXPECT_NE(r.conflicts[1].find("mixes suffix families"), std::string::npos);
  EXPECT_NE(r.conflicts[2].find("lora and diff"), std::string::npos);
  ASSERT_EQ(r.incomplete.size(), 4u);
  EXPECT_NE(r.incomplete[0].find("down without up"), std::string::npos);
  EXPECT_NE(r.incomplete[1].find("only alpha"), std::string::npos);
  EXPECT_NE(r.incomplete[2].find("missing lokr_w2"), std::string::npos);
  EXPECT_NE(r.incomplete[3].find("hada_t1 and hada_t2"), std::string::npos);
  EXPECT_EQ(r.unmatched, std::vector<std::string>{"lora_unet_something_else"});
  ASSERT_EQ(r.unsupported.size(), 2u);
  EXPECT_NE(r.unsupported[0].find("vae.decoder.conv_in"), std::string::npos);
  EXPECT_NE(r.unsupported[1].find("sparse"), std::string::npos);
  EXPECT_EQ(r.unused_keys, std::vector<std::string>{"random_tensor"});
}

TEST(AdapterReport, AlphaMustBeOneElement) {
  const std::string p = "lora_unet_down_blocks_0_attentions_0_proj_in";
  AdapterBuilder b;
  b.lora(p, 320, 320).v(p + ".alpha", {2}, {4, 4});
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.matched, 0u);
  ASSERT_EQ(a.report.invalid.size(), 1u);
  EXPECT_NE(a.report.invalid[0].find("not one element"), std::string::npos);
}

TEST(AdapterReport, InconsistentFactorsAreInvalid) {
  const std::string p = "lora_unet_down_blocks_0_attentions_0_proj_in";
  AdapterBuilder b;
  b.t(p + ".lora_down.weight", {4, 320}).t(p + ".lora_up.weight", {320, 8});
  auto a = parse(b, kSd1);
  ASSERT_EQ(a.report.invalid.size(), 1u);
  EXPECT_NE(a.report.invalid[0].find("rank 8 vs 4"), std::string::npos);
}

TEST(AdapterReport, ShapeMismatchNamesBothShapes) {
  const std::string p = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  AdapterBuilder b;
  b.lora(p, 640, 320);
  auto a = parse(b, kSd1);
  ASSERT_EQ(a.report.shape_mismatch.size(), 1u);
  const auto& m = a.report.shape_mismatch[0];
  EXPECT_EQ(m.key, p);
  EXPECT_EQ(m.shape, (Shape{640, 320}));
  EXPECT_EQ(m.target, kUnet + kAttn1 + "to_q.weight");
  EXPECT_EQ(m.target_shape, (Shape{320, 320}));
}

TEST(AdapterReport, TransposedDeltaIsRejected) {
  // [768, 320] has the element count of the [320, 768] target but the wrong dimension 0 (§8.0).
  const std::string p = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k";
  AdapterBuilder b;
  b.lora(p, 768, 320);
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.matched, 0u);
  EXPECT_EQ(a.report.shape_mismatch.size(), 1u);
}

TEST(AdapterReport, BiasDeltaNeedsABiasCompanion) {
  const std::string p = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
  AdapterBuilder b;
  b.t(p + ".diff", {320, 320}).t(p + ".diff_b", {320});  // to_q has no bias in SD1
  auto a = parse(b, kSd1);
  EXPECT_EQ(a.report.matched, 0u);
  ASSERT_EQ(a.report.invalid.size(), 1u);
  EXPECT_NE(a.report.invalid[0].find("has no bias"), std::string::npos);
}

TEST(AdapterReport, DuplicateSgmAndDiffusersNames) {
  AdapterBuilder b;
  b.lora("lora_unet_input_blocks_4_1_proj_in", 640, 640)
      .lora("lora_unet_down_blocks_1_attentions_0_proj_in", 640, 640);
  auto a = parse(b, kSdxl);
  EXPECT_EQ(a.report.matched, 2u);
  ASSERT_EQ(a.report.duplicate_bindings.size(), 1u);
  EXPECT_NE(a.report.duplicate_bindings[0].find("input_blocks.4.1.proj_in.weight"),
            std::string::npos);
}

TEST(AdapterReport, ConvInPadsInputChannelsOnInpaintModels) {
  // kohya conv_in LoCon trained on a 4-channel UNet, applied to the 9-channel inpainting UNet.
  model::ModelIndex inpaint = model::ModelIndex::from_tensors("inpaint", [] {
    auto t = corpus_tensors("arenasys_toolkit_component_UNET-v1-Inpainting.txt");
    for (auto& m : t) m.name = "model.diffusion_model." + m.name;
    return t;
  }());
  AdapterBuilder b;
  b.t("lora_unet_conv_in.lora_down.weight", {4, 4, 3, 3})
      .t("lora_unet_conv_in.lora_up.weight", {320, 4, 1, 1});
  auto a = adapter::parse(b.build(), inpaint);
  SCOPED_TRACE(report_summary(a.report));
  ASSERT_EQ(a.modules.size(), 1u);
  EXPECT_TRUE(a.modules[0].pad_input_channels);
  EXPECT_EQ(a.modules[0].target.parts[0].tensor, "model.diffusion_model.input_blocks.0.0.weight");
}

}  // namespace
}  // namespace lorakit::testing
