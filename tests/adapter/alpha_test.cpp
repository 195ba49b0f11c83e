// Alpha rules (lora-formats.md §9, §8.14) with hand-derived scales.
#include <gtest/gtest.h>

#include <cmath>

#include "adapter/alpha_rules.hpp"
#include "adapter_fixtures.hpp"

namespace lorakit::testing {
namespace {

using adapter::Kind;
using adapter::detail::alpha_scale;
using adapter::detail::AlphaInput;
using adapter::detail::PeftMetadata;
using adapter::detail::read_peft_metadata;
using adapter::detail::SuffixFamily;

constexpr const char* kSd1 = "arenasys_assembled_sd15_ldm_full.txt";
const std::string kQ = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q";
const std::string kPeftQ = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";

AlphaInput lora(std::optional<float> alpha, uint64_t r, SuffixFamily fam = SuffixFamily::Kohya,
                std::string prefix = "p") {
  AlphaInput in;
  in.kind = Kind::LoRA;
  in.lora_family = fam;
  in.stored_alpha = alpha;
  in.rank = r;
  in.prefix = std::move(prefix);
  return in;
}

TEST(AdapterAlpha, KohyaLora) {
  const PeftMetadata none;
  EXPECT_FLOAT_EQ(alpha_scale(lora(8, 16), none).scale, 0.5f);   // 8/16
  EXPECT_FLOAT_EQ(alpha_scale(lora(1, 4), none).scale, 0.25f);   // 1/4
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 16), none).scale, 1.0f);  // absent: γ = 1
  EXPECT_FALSE(alpha_scale(lora({}, 16), none).alpha.has_value());
  auto zero = alpha_scale(lora(0, 16), none);  // 0: γ = 1 and a warning
  EXPECT_FLOAT_EQ(zero.scale, 1.0f);
  EXPECT_FALSE(zero.warning.empty());
  EXPECT_FLOAT_EQ(alpha_scale(lora(-4, 16), none).scale, -0.25f);  // negative: as stored
}

TEST(AdapterAlpha, PeftMetadataSources) {
  const std::string cfg =
      R"({"r": 16, "lora_alpha": 32, "use_rslora": false,
          "alpha_pattern": {"attn1.to_q": 4}, "rank_pattern": {}})";
  AdapterBuilder b;
  b.meta("lora_adapter_metadata", cfg);
  auto md = read_peft_metadata(b.build()->metadata());
  ASSERT_EQ(md.configs.size(), 1u);
  // The record's own .alpha wins; then alpha_pattern; then lora_alpha; otherwise α = r.
  EXPECT_FLOAT_EQ(alpha_scale(lora(8, 16, SuffixFamily::Peft, kPeftQ), md).scale, 0.5f);
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 16, SuffixFamily::Peft, kPeftQ), md).scale, 0.25f);
  EXPECT_FLOAT_EQ(
      alpha_scale(lora({}, 16, SuffixFamily::Peft, "unet.mid_block.attentions.0.proj_in"), md)
          .scale,
      2.0f);
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 16, SuffixFamily::Peft, kPeftQ), PeftMetadata{}).scale,
                  1.0f);
  // The metadata is PEFT's: a kohya record ignores it.
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 16, SuffixFamily::Kohya, kQ), md).scale, 1.0f);
}

TEST(AdapterAlpha, PeftRankPatternConfirmsTheRank) {
  AdapterBuilder b;
  b.meta("lora_adapter_metadata",
         R"({"r": 16, "lora_alpha": 16, "rank_pattern": {"attn1.to_q": 8}})");
  auto md = read_peft_metadata(b.build()->metadata());
  auto ok = alpha_scale(lora({}, 8, SuffixFamily::Peft, kPeftQ), md);
  EXPECT_FLOAT_EQ(ok.scale, 2.0f);  // 16/8: γ uses lora_A's rows
  EXPECT_TRUE(ok.warning.empty());
  auto odd = alpha_scale(lora({}, 4, SuffixFamily::Peft, kPeftQ), md);
  EXPECT_FLOAT_EQ(odd.scale, 4.0f);  // 16/4, with a warning naming both ranks
  EXPECT_NE(odd.warning.find("rank 8 but lora_A has 4 rows"), std::string::npos) << odd.warning;
}

TEST(AdapterAlpha, PeftRsLora) {
  AdapterBuilder b;
  b.meta("lora_adapter_metadata", R"({"r": 16, "lora_alpha": 8, "use_rslora": true})");
  auto md = read_peft_metadata(b.build()->metadata());
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 16, SuffixFamily::Peft, kPeftQ), md).scale, 2.0f);  // 8/√16
  AdapterBuilder c;
  c.meta("lora_adapter_metadata", R"({"r": 16, "use_rslora": true})");
  auto md2 = read_peft_metadata(c.build()->metadata());
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 16, SuffixFamily::Peft, kPeftQ), md2).scale,
                  4.0f);  // α = r = 16: 16/√16
}

TEST(AdapterAlpha, DiffusersPackedPerComponentMetadata) {
  AdapterBuilder b;
  b.meta("lora_adapter_metadata",
         R"({"transformer.r": 4, "transformer.lora_alpha": 2,
             "text_encoder.r": 4, "text_encoder.lora_alpha": 8})");
  auto md = read_peft_metadata(b.build()->metadata());
  ASSERT_EQ(md.configs.size(), 2u);
  EXPECT_FLOAT_EQ(
      alpha_scale(lora({}, 4, SuffixFamily::Peft, "transformer.transformer_blocks.0.attn.to_q"), md)
          .scale,
      0.5f);
  EXPECT_FLOAT_EQ(alpha_scale(lora({}, 4, SuffixFamily::Peft,
                                   "text_encoder.text_model.encoder.layers.0.self_attn.q_proj"),
                              md)
                      .scale,
                  2.0f);
}

TEST(AdapterAlpha, BadMetadataIsAWarning) {
  AdapterBuilder b;
  b.meta("lora_adapter_metadata", "not json")
      .lora(kPeftQ, 320, 320, 4, ".lora_A.weight", ".lora_B.weight");
  auto a = adapter::parse(b.build(), corpus_base(kSd1));
  EXPECT_EQ(a.report.matched, 1u);
  ASSERT_FALSE(a.report.warnings.empty());
  EXPECT_NE(a.report.warnings[0].find("lora_adapter_metadata"), std::string::npos);
}

TEST(AdapterAlpha, OtherTypes) {
  const PeftMetadata none;
  AlphaInput loha{Kind::LoHa, SuffixFamily::Generic, 4, 8, 0, "p"};
  EXPECT_FLOAT_EQ(alpha_scale(loha, none).scale, 0.5f);
  AlphaInput lokr_full{Kind::LoKr, SuffixFamily::Generic, 4, 0, 0, "p"};
  EXPECT_FLOAT_EQ(alpha_scale(lokr_full, none).scale, 1.0f);  // no d: alpha ignored
  AlphaInput lokr_d{Kind::LoKr, SuffixFamily::Generic, 4, 16, 0, "p"};
  EXPECT_FLOAT_EQ(alpha_scale(lokr_d, none).scale, 0.25f);
  AlphaInput oft{Kind::OFT, SuffixFamily::Generic, 0.25f, 0, 640, "p"};
  EXPECT_FLOAT_EQ(alpha_scale(oft, none).scale, 160.0f);  // c = α·out
  AlphaInput oft_neg{Kind::BOFT, SuffixFamily::Generic, -1.0f, 0, 640, "p"};
  EXPECT_FALSE(alpha_scale(oft_neg, none).error.empty());
  AlphaInput ia3{Kind::IA3, SuffixFamily::Generic, 4, 0, 0, "p"};
  auto r = alpha_scale(ia3, none);
  EXPECT_FLOAT_EQ(r.scale, 1.0f);
  EXPECT_FALSE(r.alpha.has_value());
  EXPECT_FALSE(r.warning.empty());
}

TEST(AdapterAlpha, EndToEndFromAlphaKeys) {
  AdapterBuilder b;
  b.lora(kQ, 320, 320, 8).v(kQ + ".alpha", {}, {4}, DType::BF16);  // bf16 scalar
  const std::string k = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k";
  b.lora(k, 320, 320, 16).v(k + ".alpha", {}, {0});
  const std::string v = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_v";
  b.lora(v, 320, 320, 4).v(v + ".alpha", {1}, {8}, DType::I64);  // one element, integer dtype
  auto a = adapter::parse(b.build(), corpus_base(kSd1));
  SCOPED_TRACE(report_summary(a.report));
  ASSERT_EQ(a.modules.size(), 3u);
  EXPECT_FLOAT_EQ(a.modules[0].alpha_scale, 0.5f);
  EXPECT_FLOAT_EQ(*a.modules[0].alpha, 4.0f);
  EXPECT_FLOAT_EQ(a.modules[1].alpha_scale, 1.0f);
  EXPECT_FLOAT_EQ(a.modules[2].alpha_scale, 2.0f);
  bool warned = false;
  for (const auto& w : a.report.warnings) warned |= w.find("alpha = 0") != std::string::npos;
  EXPECT_TRUE(warned);
}

}  // namespace
}  // namespace lorakit::testing
