// Scenario S3 of issue 4: adapters on Q8_0, Q4_K and Q6_K models under each quant policy, and on a
// scaled-fp8 model. `requant` equals quantize(dequantize(W) + ΔW) with the reference quantizer (the
// fp32 W + ΔW taken from an F32 merge of the same unit, itself checked against float64); `upcast`
// stores the same values in the wider type; `runtime` leaves W untouched and its factors reproduce
// W + ΔW in a forward pass. Retention figures are checked against their definition.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/patch.hpp"
#include "patch/patch_fixtures.hpp"
#include "patch/reference_math.hpp"
#include "test_util.hpp"

namespace lorakit {
namespace {

using testing::FileTensor;
constexpr uint64_t kH = 256;  // FLUX hidden width 3072 / 12: K-quant rows fit
const std::string kQkv = "double_blocks.0.img_attn.qkv.weight";
const std::vector<std::string> kKeep = {"double_blocks.0.", "img_in.",    "guidance_in.",
                                        "time_in.",         "vector_in.", "final_layer."};

std::vector<FileTensor> gguf_flux(DType quant, uint64_t seed) {
  auto t = testing::mini_model("flux", kKeep, DType::F32, seed, 12);
  const std::string prefix = "model.diffusion_model.";
  for (auto& f : t) {
    if (f.name.starts_with(prefix)) f.name = f.name.substr(prefix.size());
    if (f.shape.size() == 2 && f.shape[1] % 256 == 0) f.dtype = quant;
  }
  return t;
}

struct Quantized : ::testing::TestWithParam<DType> {
  void SetUp() override {
    testing::write_tensors(
        dir_ / "flux.gguf", gguf_flux(GetParam(), 9),
        {{"general.architecture", io::GgufValue{io::GgufType::STRING, std::string("flux")}}});
    base_ = io::open_tensor_source((dir_ / "flux.gguf").string());
    model_ = std::make_unique<model::ModelIndex>(model::ModelIndex::from_source(*base_));
    a_ = testing::randn(kRank * kH, 21, 0.05f);
    b_ = testing::randn(3 * kH * kRank, 22, 0.05f);
    testing::write_tensors(
        dir_ / "lora.safetensors",
        {{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", DType::F32, {kRank, kH}, a_},
         {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", DType::F32, {3 * kH, kRank}, b_},
         {"lora_unet_double_blocks_0_img_attn_qkv.alpha", DType::F32, {}, {8.0f}}});
    lora_ = std::make_shared<adapter::Adapter>(
        adapter::parse_file((dir_ / "lora.safetensors").string(), *model_));
    plan_ = patch::make_plan(*model_, {{lora_, 1.0f}});
  }
  patch::TensorOut run(const patch::Options& o) {
    auto out = patch::apply(plan_, *plan_.find(kQkv), *base_, o);
    EXPECT_EQ(out.tensors.size(), 1u);
    return out.tensors.at(0);
  }
  static constexpr uint64_t kRank = 8;
  testing::TempDir dir_;
  std::shared_ptr<const io::TensorSource> base_;
  std::unique_ptr<model::ModelIndex> model_;
  std::vector<float> a_, b_;
  std::shared_ptr<adapter::Adapter> lora_;
  patch::Plan plan_;
};

TEST_P(Quantized, EveryPolicy) {
  const DType q = GetParam();
  ASSERT_EQ(model_->arch().family, model::Family::Flux);
  ASSERT_EQ(base_->find(kQkv)->dtype, q);
  ASSERT_EQ(lora_->modules.size(), 1u);

  // The exact fp32 result, and its agreement with float64.
  patch::Options f32;
  f32.output_dtype = DType::F32;
  const auto exact_out = run(f32);
  ASSERT_EQ(exact_out.dtype, DType::F32);
  std::vector<float> exact(exact_out.bytes.size() / 4);
  std::memcpy(exact.data(), exact_out.bytes.data(), exact_out.bytes.size());
  const auto w0 = testing::read_f32(*base_, kQkv);  // dequantize(W)
  std::vector<double> ref, mag;
  testing::lora_reference(w0, 3 * kH, kH, {{&b_, &a_, kRank, 8.0 / kRank}}, ref, mag);
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_LE(std::fabs(exact[i] - ref[i]), testing::fp32_bound(mag[i], kRank)) << i;

  // requant: bit-exact with the reference quantizer applied to dequantize(W) + ΔW.
  const auto rq = run({});
  EXPECT_EQ(rq.dtype, q);
  std::vector<std::byte> expect(rq.bytes.size());
  codec::encode(q, exact.data(), expect.data(), exact.size());
  EXPECT_EQ(rq.bytes, expect);
  // Its retention, recomputed here from the definition.
  std::vector<float> eff(exact.size());
  codec::decode(q, rq.bytes.data(), eff.data(), eff.size());
  double dd = 0, proj = 0, err = 0;
  for (size_t i = 0; i < exact.size(); ++i) {
    const double d = double(exact[i]) - w0[i];
    dd += d * d;
    proj += (double(eff[i]) - w0[i]) * d;
    err += (double(eff[i]) - exact[i]) * (double(eff[i]) - exact[i]);
  }
  EXPECT_NEAR(rq.stats.retention, proj / dd, 1e-9);
  EXPECT_NEAR(rq.stats.rel_error, std::sqrt(err / dd), 1e-9);
  EXPECT_NEAR(rq.stats.delta_norm, std::sqrt(dd), 1e-9 * std::sqrt(dd));
  if (q == DType::Q8_0) {
    EXPECT_GT(rq.stats.retention, 0.9);
  }

  // upcast: the same exact values in F16 / BF16 / Q8_0.
  for (DType up : {DType::F16, DType::BF16, DType::Q8_0}) {
    patch::Options o;
    o.quant_policy = patch::QuantPolicy::Upcast;
    o.upcast_type = up;
    const auto u = run(o);
    EXPECT_EQ(u.dtype, up);
    std::vector<std::byte> e(*bytes_for(up, exact.size()));
    codec::encode(up, exact.data(), e.data(), exact.size());
    EXPECT_EQ(u.bytes, e) << name(up);
  }
  // Upcasting to F16 keeps more of the delta than re-quantizing to 4 bits.
  if (q == DType::Q4_K) {
    patch::Options o;
    o.quant_policy = patch::QuantPolicy::Upcast;
    EXPECT_GT(run(o).stats.retention, rq.stats.retention);
  }

  // runtime: W untouched; the factors reproduce W + ΔW in a forward pass.
  patch::Options rt;
  rt.quant_policy = patch::QuantPolicy::Runtime;
  const auto r = run(rt);
  EXPECT_FALSE(r.patched);
  const auto pv = base_->view(kQkv);
  EXPECT_EQ(r.bytes, std::vector<std::byte>(pv.bytes.begin(), pv.bytes.end()));
  const auto rp = patch::runtime_patch(plan_, *plan_.find(kQkv), *base_);
  ASSERT_EQ(rp.size(), 1u);
  ASSERT_EQ(rp[0].low_rank.size(), 1u);
  EXPECT_TRUE(rp[0].residual.empty());
  const uint64_t batch = 3;
  const auto x = testing::randn(batch * kH, 5, 1.0f);
  std::vector<float> y(batch * 3 * kH);
  patch::linear_forward(pv, rp[0], x.data(), batch, y.data());
  for (uint64_t n = 0; n < batch; ++n)
    for (uint64_t o = 0; o < 3 * kH; ++o) {
      double acc = 0, am = 0;
      for (uint64_t i = 0; i < kH; ++i) {
        acc += ref[o * kH + i] * x[n * kH + i];
        am += std::fabs(mag[o * kH + i] * x[n * kH + i]);
      }
      ASSERT_NEAR(y[n * 3 * kH + o], acc, 1e-5 * am + 1e-6) << n << "," << o;
    }
}

INSTANTIATE_TEST_SUITE_P(Types, Quantized, ::testing::Values(DType::Q8_0, DType::Q4_K, DType::Q6_K),
                         [](const auto& info) { return std::string(name(info.param)); });

// Scaled fp8 (file-formats.md §6.6): W = decode(fp8)·scale; W′ is stored divided by the scale,
// which grows only when W′ would not fit.
TEST(ScaledFp8, PatchedThroughTheScaleWhichGrowsOnlyWhenNeeded) {
  testing::TempDir dir;
  auto t = testing::mini_model("flux", kKeep, DType::F8_E4M3, 4, 48);
  const uint64_t h = 64;
  const std::string w = "model.diffusion_model.double_blocks.0.img_attn.qkv.weight";
  const float scale = 0.002f;  // weights ~0.05 → stored ~25, far from 448
  for (auto& f : t)
    if (f.name == w)
      for (auto& x : f.values) x /= scale;
  t.push_back(
      {"model.diffusion_model.double_blocks.0.img_attn.qkv.scale_weight", DType::F32, {}, {scale}});
  t.push_back({"model.diffusion_model.scaled_fp8", DType::F8_E4M3, {0}, {}});
  testing::write_tensors(dir / "m.safetensors", t);
  auto base = io::open_tensor_source((dir / "m.safetensors").string());
  auto model = model::ModelIndex::from_source(*base);
  ASSERT_TRUE(model.arch().scaled_fp8);
  const auto w0 = testing::read_f32(*base, w);  // stored values (before the scale)

  for (float amp : {0.01f, 3.0f}) {
    SCOPED_TRACE(amp);
    const uint64_t r = 4;
    auto a = testing::randn(r * h, 1, amp), b = testing::randn(3 * h * r, 2, amp);
    testing::write_tensors(
        dir / "l.safetensors",
        {{"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight", DType::F32, {r, h}, a},
         {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight", DType::F32, {3 * h, r}, b}});
    auto l = std::make_shared<adapter::Adapter>(
        adapter::parse_file((dir / "l.safetensors").string(), model));
    auto plan = patch::make_plan(model, {{l, 1.0f}});
    const auto* u = plan.find(w);
    ASSERT_NE(u, nullptr);
    ASSERT_EQ(u->tensors.size(), 2u);  // the weight and its scale
    patch::Options o;
    o.fp8_rounding = patch::Fp8Rounding::Nearest;
    const auto out = patch::apply(plan, *u, *base, o);
    const auto& wt = out.tensors[0].name == w ? out.tensors[0] : out.tensors[1];
    const auto& st = out.tensors[0].name == w ? out.tensors[1] : out.tensors[0];
    EXPECT_EQ(wt.dtype, DType::F8_E4M3);
    float new_scale;
    std::memcpy(&new_scale, st.bytes.data(), 4);
    EXPECT_EQ(st.patched, amp > 1.0f);
    if (amp < 1.0f) {
      EXPECT_EQ(new_scale, scale);
    } else {
      EXPECT_GT(new_scale, scale);
    }
    EXPECT_EQ(wt.stats.saturated, 0u);
    std::vector<double> ref, mag;
    std::vector<float> w0s(w0.size());
    for (size_t i = 0; i < w0.size(); ++i) w0s[i] = w0[i] * scale;
    testing::lora_reference(w0s, 3 * h, h, {{&b, &a, r, 1.0}}, ref, mag);
    std::vector<float> got(wt.bytes.size());
    codec::decode(DType::F8_E4M3, wt.bytes.data(), got.data(), got.size());
    for (size_t i = 0; i < ref.size(); ++i) {
      const double v = double(got[i]) * new_scale;
      const double bound = 0.5 * testing::ulp_of(DType::F8_E4M3, ref[i] / new_scale) * new_scale +
                           testing::fp32_bound(mag[i], r) + 1e-12;
      ASSERT_LE(std::fabs(v - ref[i]), bound) << i;
    }
  }
}

}  // namespace
}  // namespace lorakit
