// Fused targets (lora-formats.md §7): separate parts onto fused tensors bind to their row slices,
// missing parts are simply absent; fused records onto separate parts bind to virtual
// concatenations; overlapping records are flagged.
#include <gtest/gtest.h>

#include "adapter_fixtures.hpp"
#include "model/corpus_util.hpp"

namespace lorakit::testing {
namespace {

using adapter::Module;
using model::RowSlice;
using Shape = std::vector<uint64_t>;

constexpr const char* kFlux = "sdmecha_flux_flux.txt";
constexpr const char* kSd3 = "sdmecha_sd3_comfyui.txt";
const std::string kD = "model.diffusion_model.";

const Module* module(const adapter::Adapter& a, std::string_view prefix) {
  for (const auto& m : a.modules)
    if (m.prefix == prefix) return &m;
  return nullptr;
}

// FLUX.1-dev in diffusers layout: the real key list (no shapes in the corpus) with the shapes of
// lora-formats.md §2.5 (H = 3072, M = 12288).
const model::ModelIndex& flux_diffusers() {
  static const model::ModelIndex m = [] {
    auto t = corpus_tensors("forge_hf_flux1_dev_diffusers_transformer_index.txt");
    const uint64_t h = 3072, mlp = 12288;
    auto shape_of = [&](const std::string& n) -> Shape {
      auto ends = [&](std::string_view s) { return n.ends_with(s); };
      const bool bias = ends(".bias");
      auto w = [&](uint64_t out, uint64_t in) { return bias ? Shape{out} : Shape{out, in}; };
      if (ends("norm_q.weight") || ends("norm_k.weight") || ends("norm_added_q.weight") ||
          ends("norm_added_k.weight"))
        return {128};
      if (n.starts_with("single_transformer_blocks.")) {
        if (n.find(".proj_mlp.") != std::string::npos) return w(mlp, h);
        if (n.find(".proj_out.") != std::string::npos) return w(h, h + mlp);
        if (n.find(".norm.linear.") != std::string::npos) return w(3 * h, h);
        return w(h, h);
      }
      if (n.starts_with("transformer_blocks.")) {
        if (n.find("norm1") != std::string::npos) return w(6 * h, h);
        if (n.find(".net.0.proj.") != std::string::npos) return w(mlp, h);
        if (n.find(".net.2.") != std::string::npos) return w(h, mlp);
        return w(h, h);
      }
      if (n.starts_with("x_embedder.")) return w(h, 64);
      if (n.starts_with("context_embedder.")) return w(h, 4096);
      if (n.starts_with("norm_out.")) return w(2 * h, h);
      if (n.starts_with("proj_out.")) return w(64, h);
      if (n.find("text_embedder.linear_1") != std::string::npos) return w(h, 768);
      if (n.find("linear_1") != std::string::npos) return w(h, 256);
      return w(h, h);
    };
    for (auto& x : t) x.shape = shape_of(x.name);
    return model::ModelIndex::from_tensors("flux-diffusers", std::move(t));
  }();
  return m;
}

adapter::Adapter peft_parts(const std::vector<std::string>& leaves, int block,
                            const model::ModelIndex& m) {
  AdapterBuilder b;
  for (const auto& leaf : leaves) {
    const uint64_t out = leaf == "proj_mlp" ? 12288 : 3072;
    b.lora("transformer.single_transformer_blocks." + std::to_string(block) + "." + leaf, out, 3072,
           16, ".lora_A.weight", ".lora_B.weight");
  }
  return adapter::parse(b.build(), m);
}

RowSlice rows_of(const adapter::Adapter& a, const std::string& prefix) {
  const Module* m = module(a, prefix);
  EXPECT_NE(m, nullptr) << prefix << "\n" << report_summary(a.report);
  if (!m) return {};
  EXPECT_EQ(m->target.parts.size(), 1u);
  EXPECT_EQ(m->target.parts[0].tensor, kD + "single_blocks.5.linear1.weight");
  return m->target.parts[0].rows.value_or(RowSlice{});
}

TEST(AdapterFused, QkOnlyBindsTheirSlices) {
  auto a = peft_parts({"attn.to_q", "attn.to_k"}, 5, corpus_base(kFlux));
  EXPECT_EQ(a.report.matched, 2u);
  EXPECT_EQ(rows_of(a, "transformer.single_transformer_blocks.5.attn.to_q"), (RowSlice{0, 3072}));
  EXPECT_EQ(rows_of(a, "transformer.single_transformer_blocks.5.attn.to_k"),
            (RowSlice{3072, 6144}));
  EXPECT_TRUE(a.report.overlaps.empty());
  EXPECT_TRUE(a.report.incomplete.empty());
}

TEST(AdapterFused, QkvWithoutProjMlp) {
  auto a = peft_parts({"attn.to_q", "attn.to_k", "attn.to_v"}, 5, corpus_base(kFlux));
  EXPECT_EQ(a.report.matched, 3u);
  EXPECT_EQ(rows_of(a, "transformer.single_transformer_blocks.5.attn.to_v"),
            (RowSlice{6144, 9216}));
  EXPECT_TRUE(a.report.warnings.empty()) << report_summary(a.report);
}

TEST(AdapterFused, ProjMlpAlone) {
  auto a = peft_parts({"proj_mlp"}, 5, corpus_base(kFlux));
  EXPECT_EQ(a.report.matched, 1u);
  EXPECT_EQ(rows_of(a, "transformer.single_transformer_blocks.5.proj_mlp"),
            (RowSlice{9216, 21504}));
}

TEST(AdapterFused, SlicedBiasDeltaChecksTheSliceRows) {
  AdapterBuilder b;
  b.lora("transformer.transformer_blocks.2.attn.add_k_proj", 3072, 3072, 8, ".lora_A.weight",
         ".lora_B.weight")
      .t("transformer.transformer_blocks.2.attn.add_k_proj.lora_B.bias", {3072});
  auto a = adapter::parse(b.build(), corpus_base(kFlux));
  SCOPED_TRACE(report_summary(a.report));
  ASSERT_EQ(a.modules.size(), 1u);
  EXPECT_EQ(a.modules[0].target.parts[0].tensor, kD + "double_blocks.2.txt_attn.qkv.weight");
  EXPECT_EQ(a.modules[0].target.parts[0].rows, (RowSlice{3072, 6144}));
  EXPECT_TRUE(a.modules[0].bias.contains("lora_B.bias"));
}

TEST(AdapterFused, Sd3PartsOnFusedQkv) {
  AdapterBuilder b;
  b.lora("transformer.transformer_blocks.0.attn.add_q_proj", 1536, 1536, 8, ".lora_A.weight",
         ".lora_B.weight");
  auto a = adapter::parse(b.build(), corpus_base(kSd3));
  ASSERT_EQ(a.modules.size(), 1u);
  EXPECT_EQ(a.modules[0].target.parts[0].tensor,
            kD + "joint_blocks.0.context_block.attn.qkv.weight");
  EXPECT_EQ(a.modules[0].target.parts[0].rows, (RowSlice{0, 1536}));
}

TEST(AdapterFused, FusedRecordsOnDiffusersPartsAreVirtualConcatenations) {
  const auto& m = flux_diffusers();
  ASSERT_EQ(m.arch().family, model::Family::Flux);
  AdapterBuilder b;
  b.lora("lora_unet_double_blocks_0_img_attn_qkv", 9216, 3072, 16)
      .lora("lora_unet_single_blocks_1_linear1", 21504, 3072, 16)
      .lora("diffusion_model.single_blocks.2.linear1_qkv", 9216, 3072, 16, ".lora_A.weight",
            ".lora_B.weight")
      .lora("lora_unet_single_blocks_3_linear2", 3072, 15360, 16);
  auto a = adapter::parse(b.build(), m);
  SCOPED_TRACE(report_summary(a.report));
  EXPECT_EQ(a.report.matched, 4u);
  auto tensors = [&](const std::string& p) {
    std::vector<std::string> v;
    if (const Module* x = module(a, p))
      for (const auto& part : x->target.parts) v.push_back(part.tensor);
    return v;
  };
  EXPECT_EQ(tensors("lora_unet_double_blocks_0_img_attn_qkv"),
            (std::vector<std::string>{"transformer_blocks.0.attn.to_q.weight",
                                      "transformer_blocks.0.attn.to_k.weight",
                                      "transformer_blocks.0.attn.to_v.weight"}));
  EXPECT_EQ(tensors("lora_unet_single_blocks_1_linear1"),
            (std::vector<std::string>{"single_transformer_blocks.1.attn.to_q.weight",
                                      "single_transformer_blocks.1.attn.to_k.weight",
                                      "single_transformer_blocks.1.attn.to_v.weight",
                                      "single_transformer_blocks.1.proj_mlp.weight"}));
  EXPECT_EQ(tensors("diffusion_model.single_blocks.2.linear1_qkv"),
            (std::vector<std::string>{"single_transformer_blocks.2.attn.to_q.weight",
                                      "single_transformer_blocks.2.attn.to_k.weight",
                                      "single_transformer_blocks.2.attn.to_v.weight"}));
  EXPECT_EQ(tensors("lora_unet_single_blocks_3_linear2"),
            (std::vector<std::string>{"single_transformer_blocks.3.proj_out.weight"}));
}

TEST(AdapterFused, KohyaFluxFileOnDiffusersLayout) {
  const auto& m = flux_diffusers();
  auto a = adapter::parse(corpus_adapter("invokeai_flux_lora_kohya_format.txt"), m);
  SCOPED_TRACE(report_summary(a.report));
  EXPECT_EQ(a.report.matched, a.report.modules);
  EXPECT_TRUE(a.report.unmatched.empty());
  EXPECT_TRUE(a.report.shape_mismatch.empty());
}

TEST(AdapterFused, WholeAndQkvRecordsOverlap) {
  AdapterBuilder b;
  b.lora("lora_unet_single_blocks_4_linear1", 21504, 3072, 8)
      .lora("diffusion_model.single_blocks.4.linear1_qkv", 9216, 3072, 8, ".lora_A.weight",
            ".lora_B.weight");
  auto a = adapter::parse(b.build(), corpus_base(kFlux));
  EXPECT_EQ(a.report.matched, 2u);
  EXPECT_TRUE(a.report.duplicate_bindings.empty());
  ASSERT_EQ(a.report.overlaps.size(), 1u);
  EXPECT_NE(a.report.overlaps[0].find("rows [0, 21504) and [0, 9216)"), std::string::npos)
      << a.report.overlaps[0];
}

}  // namespace
}  // namespace lorakit::testing
