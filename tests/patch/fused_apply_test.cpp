// Scenario S2 of issue 4: FLUX adapters with partial fused sets. A diffusers-named LoRA with q/k/v
// but no proj_mlp applies to the fused BFL `linear1`; the missing slices get no delta; the result
// equals the same LoRA written in BFL naming. And the reverse: a fused record on a model that
// stores the parts separately is one unit over the separate tensors.
#include <gtest/gtest.h>

#include <cstring>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/patch.hpp"
#include "patch/patch_fixtures.hpp"
#include "test_util.hpp"

namespace lorakit {
namespace {

using testing::FileTensor;
constexpr uint64_t kH = 64;  // FLUX hidden width 3072 / 48
const std::string kLinear1 = "model.diffusion_model.single_blocks.0.linear1.weight";
const std::string kQkv = "model.diffusion_model.double_blocks.0.img_attn.qkv.weight";

const std::vector<std::string> kFluxKeep = {"double_blocks.0.", "single_blocks.0.", "img_in.",
                                            "guidance_in.",     "time_in.",         "vector_in.",
                                            "txt_in.",          "final_layer."};

class FluxPartialSets : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::write_tensors(dir_ / "flux.safetensors",
                           testing::mini_model("flux", kFluxKeep, DType::BF16, 3, 48));
    base_ = io::open_tensor_source((dir_ / "flux.safetensors").string());
    model_ = std::make_unique<model::ModelIndex>(model::ModelIndex::from_source(*base_));
  }
  // `force`: at this toy width (64) a diffusers-named double-block record implies SD3 (hidden
  // 64·depth; only 3072 means FLUX, lora-formats.md §3.4), so such files are bound with --force
  // semantics.
  std::shared_ptr<adapter::Adapter> parse(const std::string& file, bool force = false) {
    return std::make_shared<adapter::Adapter>(
        adapter::parse_file((dir_ / file).string(), *model_, {.force = force}));
  }
  std::vector<std::byte> patched(const std::shared_ptr<adapter::Adapter>& a, const std::string& t,
                                 float s = 1.0f) {
    auto plan = patch::make_plan(*model_, {{a, s}});
    const auto* u = plan.find(t);
    EXPECT_NE(u, nullptr) << t;
    if (!u) return {};
    for (auto& o : patch::apply(plan, *u, *base_, {}).tensors)
      if (o.name == t) return std::vector<std::byte>(o.bytes.begin(), o.bytes.end());
    return {};
  }
  std::vector<std::byte> pristine(const std::string& t) {
    auto v = base_->view(t);
    return {v.bytes.begin(), v.bytes.end()};
  }

  testing::TempDir dir_;
  std::shared_ptr<const io::TensorSource> base_;
  std::unique_ptr<model::ModelIndex> model_;
};

TEST_F(FluxPartialSets, FixtureIsFluxAtWidth64) {
  EXPECT_EQ(model_->arch().family, model::Family::Flux);
  EXPECT_EQ(model_->arch().hidden, kH);
  EXPECT_EQ(model_->find(kLinear1)->shape, (std::vector<uint64_t>{7 * kH, kH}));
}

TEST_F(FluxPartialSets, QkvWithoutProjMlpPatchesOnlyTheirSlicesAndEqualsBflNaming) {
  const uint64_t r = 4;
  std::vector<FileTensor> t;
  uint64_t seed = 100;
  for (const char* p : {"to_q", "to_k", "to_v"}) {
    const std::string pre = std::string("transformer.single_transformer_blocks.0.attn.") + p;
    t.push_back(
        {pre + ".lora_A.weight", DType::F32, {r, kH}, testing::randn(r * kH, ++seed, 0.2f)});
    t.push_back(
        {pre + ".lora_B.weight", DType::F32, {kH, r}, testing::randn(kH * r, ++seed, 0.2f)});
  }
  testing::write_tensors(dir_ / "diffusers.safetensors", t);
  auto d = parse("diffusers.safetensors");
  ASSERT_EQ(d->modules.size(), 3u);
  ASSERT_TRUE(d->report.unmatched.empty());

  // One unit: three records on slices of one tensor.
  auto plan = patch::make_plan(*model_, {{d, 1.0f}});
  ASSERT_EQ(plan.units.size(), 1u);
  EXPECT_EQ(plan.units[0].tensors, std::vector<std::string>{kLinear1});
  EXPECT_EQ(plan.units[0].steps.size(), 3u);

  const auto got = patched(d, kLinear1);
  const auto base = pristine(kLinear1);
  ASSERT_EQ(got.size(), base.size());
  const uint64_t row_bytes = kH * 2;
  // q, k, v rows changed; the MLP rows [3H, 7H) are bit-identical to the base.
  EXPECT_NE(std::memcmp(got.data(), base.data(), 3 * kH * row_bytes), 0);
  EXPECT_EQ(std::memcmp(got.data() + 3 * kH * row_bytes, base.data() + 3 * kH * row_bytes,
                        4 * kH * row_bytes),
            0);

  // The same LoRA in BFL naming (lorakit's own exact fused conversion) gives the same bytes.
  adapter::convert(*d, *model_, adapter::TargetFamily::Bfl, (dir_ / "bfl.safetensors").string());
  auto b = parse("bfl.safetensors");
  ASSERT_EQ(b->modules.size(), 1u);
  EXPECT_EQ(patched(b, kLinear1), got);
  // And at another strength too.
  EXPECT_EQ(patched(b, kLinear1, -0.75f), patched(d, kLinear1, -0.75f));
}

TEST_F(FluxPartialSets, EachSinglePartAloneTouchesOnlyItsRows) {
  const uint64_t r = 2;
  int idx = 0;
  for (const char* p : {"to_q", "to_k", "to_v"}) {
    SCOPED_TRACE(p);
    const std::string pre = std::string("transformer.transformer_blocks.0.attn.") + p;
    const std::string file = std::string(p) + ".safetensors";
    testing::write_tensors(
        dir_ / file,
        {{pre + ".lora_A.weight", DType::F32, {r, kH}, testing::randn(r * kH, 7, 0.3f)},
         {pre + ".lora_B.weight", DType::F32, {kH, r}, testing::randn(kH * r, 8, 0.3f)}});
    auto a = parse(file, true);
    ASSERT_EQ(a->modules.size(), 1u) << a->report.compat_error;
    const auto got = patched(a, kQkv);
    const auto base = pristine(kQkv);
    const uint64_t rb = kH * 2;
    for (int part = 0; part < 3; ++part) {
      const bool same =
          std::memcmp(got.data() + part * kH * rb, base.data() + part * kH * rb, kH * rb) == 0;
      EXPECT_EQ(same, part != idx) << "part " << part;
    }
    ++idx;
  }
}

// The reverse binding: a BFL fused qkv record on a diffusers-layout FLUX (separate to_q/to_k/to_v)
// is one unit over the three tensors, and equals applying the three split records.
TEST(FluxFusedOnSplit, OneUnitOverThePartsEqualToSplitRecords) {
  testing::TempDir dir;
  std::vector<FileTensor> m;
  uint64_t seed = 40;
  auto add = [&](const std::string& n, std::vector<uint64_t> shape) {
    uint64_t c = 1;
    for (auto d : shape) c *= d;
    m.push_back({n, DType::F16, shape, testing::randn(c, ++seed, 0.05f)});
  };
  for (const char* p : {"to_q", "to_k", "to_v", "add_q_proj", "add_k_proj", "add_v_proj"})
    add(std::string("transformer_blocks.0.attn.") + p + ".weight", {kH, kH});
  add("transformer_blocks.0.attn.to_out.0.weight", {kH, kH});
  add("transformer_blocks.0.attn.to_add_out.weight", {kH, kH});
  for (const char* p : {"to_q", "to_k", "to_v"})
    add(std::string("single_transformer_blocks.0.attn.") + p + ".weight", {kH, kH});
  add("single_transformer_blocks.0.proj_mlp.weight", {4 * kH, kH});
  add("single_transformer_blocks.0.proj_out.weight", {kH, 5 * kH});
  add("x_embedder.weight", {kH, 64});
  add("time_text_embed.guidance_embedder.linear_1.weight", {kH, 256});
  testing::write_tensors(dir / "flux-diffusers.safetensors", m);
  auto base = io::open_tensor_source((dir / "flux-diffusers.safetensors").string());
  auto model = model::ModelIndex::from_source(*base);
  ASSERT_EQ(model.arch().family, model::Family::Flux);
  ASSERT_EQ(model.layout(), model::Layout::Diffusers);

  const uint64_t r = 3;
  auto a = testing::randn(r * kH, 1, 0.2f), b = testing::randn(3 * kH * r, 2, 0.2f);
  testing::write_tensors(
      dir / "bfl.safetensors",
      {{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", DType::F32, {r, kH}, a},
       {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", DType::F32, {3 * kH, r}, b},
       {"lora_unet_double_blocks_0_img_attn_qkv.alpha", DType::F32, {}, {1.5f}}});
  auto fused = std::make_shared<adapter::Adapter>(
      adapter::parse_file((dir / "bfl.safetensors").string(), model));
  ASSERT_EQ(fused->modules.size(), 1u);
  ASSERT_EQ(fused->modules[0].target.parts.size(), 3u);
  auto plan = patch::make_plan(model, {{fused, 0.8f}});
  ASSERT_EQ(plan.units.size(), 1u);
  // In model tensor order (the file is written sorted by name).
  EXPECT_EQ(plan.units[0].tensors,
            (std::vector<std::string>{"transformer_blocks.0.attn.to_k.weight",
                                      "transformer_blocks.0.attn.to_q.weight",
                                      "transformer_blocks.0.attn.to_v.weight"}));
  const auto out = patch::apply(plan, plan.units[0], *base, {});
  ASSERT_EQ(out.tensors.size(), 3u);

  // The same delta as three split PEFT records: B's row blocks times γ = 1.5 / 3 = 0.5 (exact in
  // binary, so the products are bit-identical), one A, no alpha (γ = 1).
  std::vector<FileTensor> split;
  int part = 0;
  for (const char* p : {"to_q", "to_k", "to_v"}) {
    const std::string pre = std::string("transformer.transformer_blocks.0.attn.") + p;
    std::vector<float> bp(b.begin() + part * kH * r, b.begin() + (part + 1) * kH * r);
    for (auto& x : bp) x *= 0.5f;
    split.push_back({pre + ".lora_A.weight", DType::F32, {r, kH}, a});
    split.push_back({pre + ".lora_B.weight", DType::F32, {kH, r}, bp});
    ++part;
  }
  testing::write_tensors(dir / "split.safetensors", split);
  auto sp = std::make_shared<adapter::Adapter>(
      adapter::parse_file((dir / "split.safetensors").string(), model, {.force = true}));
  ASSERT_EQ(sp->modules.size(), 3u) << sp->report.unmatched.size();
  auto plan2 = patch::make_plan(model, {{sp, 0.8f}});
  ASSERT_EQ(plan2.units.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    const auto& name = out.tensors[i].name;
    const auto* u2 = plan2.find(name);
    ASSERT_NE(u2, nullptr) << name;
    const auto o2 = patch::apply(plan2, *u2, *base, {});
    EXPECT_EQ(o2.tensors[0].bytes, out.tensors[i].bytes) << name;
  }
}

}  // namespace
}  // namespace lorakit
