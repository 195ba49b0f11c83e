// patch::apply on float targets: merges equal a float64 reference to within half an ulp of the
// target type (plus the fp32 accumulation bound), fp8 stochastic rounding keeps the delta in
// expectation, and the bytes do not depend on the thread count.
#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/patch.hpp"
#include "patch/patch_fixtures.hpp"
#include "patch/reference_math.hpp"
#include "test_util.hpp"

namespace lorakit {
namespace {

using testing::FileTensor;

constexpr const char* kQ =
    "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight";
constexpr const char* kProjIn = "model.diffusion_model.input_blocks.1.1.proj_in.weight";
constexpr const char* kTeQ =
    "cond_stage_model.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight";

struct Lora {
  std::string prefix;
  uint64_t out, in, rank;
  std::vector<uint64_t> a_shape, b_shape;
  std::vector<float> a, b;
  float alpha;
};

Lora make_lora(const std::string& prefix, uint64_t out, uint64_t in, uint64_t rank, float alpha,
               uint64_t seed, bool conv1x1 = false) {
  Lora l{prefix,
         out,
         in,
         rank,
         {rank, in},
         {out, rank},
         testing::randn(rank * in, seed, 0.1f),
         testing::randn(out * rank, seed + 1, 0.1f),
         alpha};
  if (conv1x1) {
    l.a_shape = {rank, in, 1, 1};
    l.b_shape = {out, rank, 1, 1};
  }
  return l;
}

void write_kohya(const std::filesystem::path& p, const std::vector<Lora>& loras) {
  std::vector<FileTensor> t;
  for (const auto& l : loras) {
    t.push_back({l.prefix + ".lora_down.weight", DType::F32, l.a_shape, l.a});
    t.push_back({l.prefix + ".lora_up.weight", DType::F32, l.b_shape, l.b});
    t.push_back({l.prefix + ".alpha", DType::F32, {}, {l.alpha}});
  }
  testing::write_tensors(p, t);
}

class PatchApplySd1 : public ::testing::Test {
 protected:
  void SetUp() override {
    auto tensors = testing::mini_model("sd1",
                                       {"input_blocks.0.", "input_blocks.1.", "time_embed.", "out.",
                                        "text_model.encoder.layers.0.", "text_model.embeddings."},
                                       DType::F16);
    testing::write_tensors(dir_ / "model.safetensors", tensors);
    base_ = io::open_tensor_source((dir_ / "model.safetensors").string());
    model_ = std::make_unique<model::ModelIndex>(model::ModelIndex::from_source(*base_));
    la_ = {
        make_lora("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320,
                  8, 4.0f, 11),
        make_lora("lora_unet_down_blocks_0_attentions_0_proj_in", 320, 320, 8, 8.0f, 13, true),
        make_lora("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768, 768, 4, 1.0f, 17)};
    lb_ = {make_lora("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320,
                     320, 16, 16.0f, 23)};
    write_kohya(dir_ / "a.safetensors", la_);
    write_kohya(dir_ / "b.safetensors", lb_);
    a_ = std::make_shared<adapter::Adapter>(
        adapter::parse_file((dir_ / "a.safetensors").string(), *model_));
    b_ = std::make_shared<adapter::Adapter>(
        adapter::parse_file((dir_ / "b.safetensors").string(), *model_));
  }

  // Expected fp64 value of a tensor under {a: sa, b: sb}.
  void reference(const std::string& tensor, float sa, float sb, std::vector<double>& ref,
                 std::vector<double>& mag, uint64_t& ranks) {
    const auto w0 = testing::read_f32(*base_, tensor);
    std::vector<testing::LoraTerm> terms;
    ranks = 0;
    auto add = [&](const std::vector<Lora>& ls, float s, const std::string& key) {
      for (const auto& l : ls)
        if (l.prefix == key) {
          terms.push_back({&l.b, &l.a, l.rank, static_cast<double>(s) * l.alpha / l.rank});
          ranks += l.rank;
        }
    };
    const std::string key = tensor == kQ        ? la_[0].prefix
                            : tensor == kProjIn ? la_[1].prefix
                                                : la_[2].prefix;
    add(la_, sa, key);
    add(lb_, sb, key);
    const auto* info = base_->find(tensor);
    testing::lora_reference(w0, info->shape[0], info->elements / info->shape[0], terms, ref, mag);
  }

  testing::TempDir dir_;
  std::shared_ptr<const io::TensorSource> base_;
  std::unique_ptr<model::ModelIndex> model_;
  std::vector<Lora> la_, lb_;
  std::shared_ptr<adapter::Adapter> a_, b_;
};

TEST_F(PatchApplySd1, FixtureIsSd1AndBindsEveryRecord) {
  EXPECT_EQ(model_->arch().family, model::Family::SD1);
  EXPECT_EQ(a_->modules.size(), 3u);
  EXPECT_EQ(b_->modules.size(), 1u);
}

TEST_F(PatchApplySd1, PlanGroupsByTensorAndSkipsZeroStrength) {
  auto plan = patch::make_plan(*model_, {{a_, 0.7f}, {b_, -0.3f}});
  ASSERT_EQ(plan.units.size(), 3u);
  const auto* q = plan.find(kQ);
  ASSERT_NE(q, nullptr);
  ASSERT_EQ(q->steps.size(), 2u);
  EXPECT_EQ(q->steps[0].entry, 0u);
  EXPECT_EQ(q->steps[1].entry, 1u);
  EXPECT_FLOAT_EQ(q->steps[1].strength, -0.3f);
  auto zero = patch::make_plan(*model_, {{a_, 0.0f}, {b_, 0.5f}});
  EXPECT_EQ(zero.units.size(), 1u);
  EXPECT_EQ(zero.find(kProjIn), nullptr);
  EXPECT_TRUE(patch::make_plan(*model_, {{a_, 0.0f}}).units.empty());
}

// The precision rule, for every float storage type.
TEST_F(PatchApplySd1, FloatMergesWithinHalfUlpOfFloat64Reference) {
  const float sa = 0.7f, sb = -0.3f;
  auto plan = patch::make_plan(*model_, {{a_, sa}, {b_, sb}});
  for (DType dt : {DType::F16, DType::BF16, DType::F32, DType::F8_E4M3, DType::F8_E5M2}) {
    patch::Options opt;
    opt.output_dtype = dt;
    opt.fp8_rounding = patch::Fp8Rounding::Nearest;
    for (const char* tensor : {kQ, kProjIn, kTeQ}) {
      SCOPED_TRACE(std::string(name(dt)) + " " + tensor);
      auto out = patch::apply(plan, *plan.find(tensor), *base_, opt);
      ASSERT_EQ(out.tensors.size(), 1u);
      const auto& t = out.tensors[0];
      EXPECT_EQ(t.dtype, dt);
      EXPECT_TRUE(t.patched);
      std::vector<float> got(t.bytes.size() / traits(dt).block_bytes);
      codec::decode(dt, t.bytes.data(), got.data(), got.size());
      std::vector<double> ref, mag;
      uint64_t ranks = 0;
      reference(tensor, sa, sb, ref, mag, ranks);
      ASSERT_EQ(got.size(), ref.size());
      uint64_t bad = 0, exact_nearest = 0;
      double max_max = dt == DType::F8_E4M3 ? 448 : dt == DType::F8_E5M2 ? 57344 : 1e300;
      for (size_t i = 0; i < ref.size(); ++i) {
        const double r = std::clamp(ref[i], -max_max, max_max);
        const double bound = 0.5 * testing::ulp_of(dt, r) + testing::fp32_bound(mag[i], ranks);
        if (std::fabs(got[i] - r) > bound) ++bad;
        if (std::fabs(got[i] - r) <= 0.5 * testing::ulp_of(dt, r)) ++exact_nearest;
      }
      EXPECT_EQ(bad, 0u);
      // For types much coarser than the fp32 accumulator, nearly every element is the correctly
      // rounded float64 result itself (F32 outputs carry the accumulation error in full).
      if (dt != DType::F32) {
        EXPECT_GE(exact_nearest, ref.size() - ref.size() / 1000);
      }
    }
  }
}

TEST_F(PatchApplySd1, SameTypeOutputKeepsDtypeAndUnpatchedCompanionsAbsent) {
  auto plan = patch::make_plan(*model_, {{a_, 1.0f}});
  auto out = patch::apply(plan, *plan.find(kQ), *base_, {});
  ASSERT_EQ(out.tensors.size(), 1u);
  EXPECT_EQ(out.tensors[0].dtype, DType::F16);
  EXPECT_EQ(out.tensors[0].shape, (std::vector<uint64_t>{320, 320}));
  EXPECT_GT(out.tensors[0].stats.delta_norm, 0.0);
  // Rounding f16 keeps almost all of the delta: its retention is ≈ 1.
  EXPECT_NEAR(out.tensors[0].stats.retention, 1.0, 0.02);
}

// fp8 stochastic rounding (file-formats.md §6.5): within one ulp of the exact value, unbiased, and
// keeping far more of the delta than round-to-nearest (the spec's motivating measurement).
TEST_F(PatchApplySd1, Fp8StochasticKeepsTheDeltaInExpectation) {
  const float sa = 1.0f;
  auto plan = patch::make_plan(*model_, {{a_, sa}});
  patch::Options st, nr;
  st.output_dtype = nr.output_dtype = DType::F8_E4M3;
  nr.fp8_rounding = patch::Fp8Rounding::Nearest;
  auto s_out = patch::apply(plan, *plan.find(kTeQ), *base_, st);
  auto n_out = patch::apply(plan, *plan.find(kTeQ), *base_, nr);
  const auto& s = s_out.tensors[0];
  std::vector<float> got(s.bytes.size());
  codec::decode(DType::F8_E4M3, s.bytes.data(), got.data(), got.size());
  std::vector<double> ref, mag;
  uint64_t ranks = 0;
  reference(kTeQ, sa, 0.0f, ref, mag, ranks);
  double sum_err = 0, sum_ulp = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double u = testing::ulp_of(DType::F8_E4M3, ref[i]);
    EXPECT_LT(std::fabs(got[i] - ref[i]), u + testing::fp32_bound(mag[i], ranks)) << i;
    sum_err += got[i] - ref[i];
    sum_ulp += u;
  }
  // Unbiased: the mean error is a small fraction of the mean ulp (n = 589,824 elements).
  EXPECT_LT(std::fabs(sum_err) / sum_ulp, 0.01);
  // The input is f16 and the output e4m3: the delta alone is what retention measures; base
  // rounding noise makes both below 1, stochastic clearly above nearest.
  EXPECT_GT(s.stats.retention, n_out.tensors[0].stats.retention);
  // Deterministic, seed-dependent, thread-count independent.
  auto again = patch::apply(plan, *plan.find(kTeQ), *base_, st);
  EXPECT_EQ(again.tensors[0].bytes, s.bytes);
  patch::Options seeded = st;
  seeded.seed = 7;
  EXPECT_NE(patch::apply(plan, *plan.find(kTeQ), *base_, seeded).tensors[0].bytes, s.bytes);
  {
    tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    EXPECT_EQ(patch::apply(plan, *plan.find(kTeQ), *base_, st).tensors[0].bytes, s.bytes);
  }
}

TEST_F(PatchApplySd1, OutputDoesNotDependOnThreadCount) {
  auto plan = patch::make_plan(*model_, {{a_, 0.6f}, {b_, 1.5f}});
  std::vector<ByteBuffer> many, one;
  for (const auto& u : plan.units)
    many.push_back(patch::apply(plan, u, *base_, {}).tensors[0].bytes);
  {
    tbb::global_control c(tbb::global_control::max_allowed_parallelism, 1);
    for (const auto& u : plan.units)
      one.push_back(patch::apply(plan, u, *base_, {}).tensors[0].bytes);
  }
  EXPECT_EQ(many, one);
}

TEST(PatchOptions, ParseAndOutputType) {
  patch::Options o;
  patch::parse_quant_policy("upcast:bf16", o);
  EXPECT_EQ(o.quant_policy, patch::QuantPolicy::Upcast);
  EXPECT_EQ(o.upcast_type, DType::BF16);
  EXPECT_THROW(patch::parse_quant_policy("upcast:q4_k", o), InvalidArgument);
  EXPECT_THROW(patch::parse_quant_policy("sometimes", o), InvalidArgument);
  patch::parse_rounding("stochastic:42", o);
  EXPECT_EQ(o.seed, 42u);
  EXPECT_THROW(patch::parse_rounding("stochastic:-1", o), InvalidArgument);
  patch::parse_rounding("nearest", o);
  EXPECT_EQ(o.fp8_rounding, patch::Fp8Rounding::Nearest);

  io::TensorInfo w{"w", DType::F16, {64, 512}, {64, 512}, 64 * 512, 0, 0, 0};
  io::TensorInfo bias{"b", DType::F16, {64}, {64}, 64, 0, 0, 0};
  io::TensorInfo odd{"o", DType::F32, {64, 100}, {64, 100}, 6400, 0, 0, 0};
  patch::Options q;
  q.output_dtype = DType::Q4_K;
  EXPECT_EQ(patch::output_type(w, q), DType::Q4_K);
  EXPECT_EQ(patch::output_type(bias, q), DType::F16);  // 1-D: no blocks
  EXPECT_EQ(patch::output_type(odd, q), DType::F32);   // rows not a whole number of blocks
  q.quant_policy = patch::QuantPolicy::Upcast;
  q.upcast_type = DType::Q8_0;
  EXPECT_EQ(patch::output_type(w, q, true), DType::Q8_0);
  EXPECT_EQ(patch::output_type(w, q, false), DType::Q4_K);
}

}  // namespace
}  // namespace lorakit
