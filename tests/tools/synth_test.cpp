// Synthetic models and adapters: the subsets still detect as their reference architecture, every
// adapter record binds, values are deterministic and sized as documented.
#include "tools/synth.hpp"

#include <gtest/gtest.h>
#include <tbb/global_control.h>

#include <cmath>

#include "lorakit/adapter.hpp"
#include "lorakit/codec.hpp"
#include "lorakit/io.hpp"
#include "tools/synth_random.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

// Small subsets of each reference layout (a few MB): the filter plus the detection keys.
tools::SynthModelOptions small(const std::string& ref, std::vector<std::string> include) {
  tools::SynthModelOptions o;
  o.reference = ref;
  o.include = std::move(include);
  return o;
}

std::vector<float> decode_tensor(const io::TensorSource& src, const std::string& name) {
  auto v = src.view(name);
  std::vector<float> f(v.info->elements);
  codec::decode(v.info->dtype, v.bytes.data(), f.data(), f.size());
  return f;
}

TEST(SynthRandom, ChunksAgreeWithTheWholeStream) {
  const uint64_t key = tools::synth_stream_key(7, "a.weight");
  std::vector<float> whole(1001), parts(1001);
  tools::synth_normal(key, 0, whole.size(), 1.0f, whole.data());
  tools::synth_normal(key, 0, 3, 1.0f, parts.data());
  tools::synth_normal(key, 3, 500, 1.0f, parts.data() + 3);
  tools::synth_normal(key, 503, 498, 1.0f, parts.data() + 503);
  EXPECT_EQ(whole, parts);
  double sum = 0, sq = 0;
  for (float x : whole) sum += x, sq += double(x) * x;
  EXPECT_NEAR(sum / 1001, 0.0, 0.1);
  EXPECT_NEAR(std::sqrt(sq / 1001), 1.0, 0.1);
  EXPECT_NE(tools::synth_stream_key(7, "a.weight"), tools::synth_stream_key(8, "a.weight"));
  EXPECT_NE(tools::synth_stream_key(7, "a.weight"), tools::synth_stream_key(7, "b.weight"));
}

TEST(SynthModel, SmallSubsetsDetectAsTheirReference) {
  TempDir dir;
  struct Case {
    const char* ref;
    std::vector<std::string> include;
  };
  for (const auto& c : std::vector<Case>{
           {"sd1",
            {"input_blocks.1.1.", "cond_stage_model.transformer.text_model.encoder.layers.0."}},
           {"sd2", {"input_blocks.1.1.proj_in"}},
           {"sdxl",
            {"input_blocks.4.1.transformer_blocks.0.attn1",
             "conditioner.embedders.1.model."
             "transformer.resblocks.0.attn"}},
           {"sd3", {"joint_blocks.0.x_block.attn.proj"}}}) {
    SCOPED_TRACE(c.ref);
    const auto path = dir / (std::string(c.ref) + ".safetensors");
    auto res = tools::synth_model(small(c.ref, c.include), path.string());
    const auto ref = model::ModelIndex::reference(c.ref);
    auto src = io::open_tensor_source(path.string());
    const auto m = model::ModelIndex::from_source(*src);
    EXPECT_EQ(m.arch().family, ref.arch().family);
    EXPECT_EQ(m.arch().variant, ref.arch().variant);
    EXPECT_EQ(m.layout(), ref.layout());
    EXPECT_EQ(res.arch.variant, ref.arch().variant);
    EXPECT_EQ(res.tensors, src->tensors().size());
    EXPECT_LT(res.tensors, 60u);
    EXPECT_LT(res.tensor_bytes, uint64_t{40} << 20);
    for (const auto& t : src->tensors()) {
      const auto* r = ref.find(t.name);
      ASSERT_NE(r, nullptr) << t.name;
      EXPECT_EQ(t.shape, r->shape) << t.name;
      EXPECT_EQ(t.dtype, DType::F16);
    }
  }
  // FLUX's detection keys alone are 110 MB in F16: checked on the tensor list only.
  const auto flux = tools::synth_model_tensors(small("flux", {"double_blocks.0.img_attn.proj"}));
  EXPECT_LE(flux.size(), 8u);
  const auto m = model::ModelIndex::from_tensors("flux-subset", flux);
  EXPECT_EQ(m.arch().variant, "flux-dev");
  EXPECT_EQ(m.layout(), model::Layout::ComfyUI);
}

TEST(SynthModel, ValuesAreNormalWithTheRequestedDeviation) {
  TempDir dir;
  auto o = small("sd1", {"input_blocks.1.1.transformer_blocks.0.attn1.to_q"});
  o.dtype = DType::F32;
  o.stddev = 0.05f;
  tools::synth_model(o, (dir / "m.safetensors").string());
  auto src = io::open_tensor_source((dir / "m.safetensors").string());
  auto f = decode_tensor(
      *src, "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight");
  double sq = 0;
  for (float x : f) sq += double(x) * x;
  EXPECT_NEAR(std::sqrt(sq / f.size()), 0.05, 0.002);
  EXPECT_EQ(f.size(), 320u * 320u);
}

TEST(SynthModel, SameSeedSameBytesForAnyThreadCount) {
  TempDir dir;
  auto o = small("sd1", {"input_blocks.1.1.transformer_blocks.0.ff"});
  o.dtype = DType::BF16;
  {
    tbb::global_control one(tbb::global_control::max_allowed_parallelism, 1);
    tools::synth_model(o, (dir / "a.safetensors").string());
  }
  tools::synth_model(o, (dir / "b.safetensors").string());
  o.seed = 1;
  tools::synth_model(o, (dir / "c.safetensors").string());
  EXPECT_TRUE(read_file(dir / "a.safetensors") == read_file(dir / "b.safetensors"));
  EXPECT_FALSE(read_file(dir / "a.safetensors") == read_file(dir / "c.safetensors"));
}

TEST(SynthModel, GgufWithABlockTypeAndFp8Safetensors) {
  TempDir dir;
  auto o = small("sd1", {"input_blocks.1.1."});
  o.dtype = DType::Q8_0;
  tools::synth_model(o, (dir / "m.gguf").string());
  auto src = io::open_tensor_source((dir / "m.gguf").string());
  EXPECT_EQ(model::ModelIndex::from_source(*src).arch().variant, "sd1");
  const std::string p = "model.diffusion_model.input_blocks.1.1.";
  EXPECT_EQ(src->find(p + "transformer_blocks.0.attn2.to_k.weight")->dtype, DType::Q8_0);
  EXPECT_EQ(src->find(p + "proj_in.weight")->dtype, DType::F16);  // [320, 320, 1, 1]: row of 1
  EXPECT_EQ(src->find(p + "norm.weight")->dtype, DType::F32);
  EXPECT_EQ(src->find(p + "proj_in.weight")->shape, (std::vector<uint64_t>{320, 320, 1, 1}));
  // The block type stores what the codec makes of the same normal values.
  auto f32 = small("sd1", {"input_blocks.1.1."});
  f32.dtype = DType::F32;
  tools::synth_model(f32, (dir / "m.safetensors").string());
  auto ref = io::open_tensor_source((dir / "m.safetensors").string());
  const auto name = p + "transformer_blocks.0.attn2.to_k.weight";
  auto want = decode_tensor(*ref, name);
  std::vector<std::byte> q(src->view(name).bytes.size());
  codec::encode(DType::Q8_0, want.data(), q.data(), want.size());
  EXPECT_TRUE(std::equal(q.begin(), q.end(), src->view(name).bytes.begin()));

  o.dtype = DType::F8_E4M3;
  tools::synth_model(o, (dir / "fp8.safetensors").string());
  auto s8 = io::open_tensor_source((dir / "fp8.safetensors").string());
  EXPECT_EQ(s8->find(p + "norm.weight")->dtype, DType::F8_E4M3);
  EXPECT_THROW(tools::synth_model(o, (dir / "fp8.gguf").string()), InvalidArgument);
  o.dtype = DType::Q4_K;
  EXPECT_THROW(tools::synth_model(o, (dir / "q.safetensors").string()), InvalidArgument);
}

void expect_all_bind(const adapter::Adapter& a, uint64_t modules) {
  const auto& r = a.report;
  EXPECT_EQ(r.format, adapter::Format::Kohya);
  EXPECT_TRUE(r.compat_error.empty()) << r.compat_error;
  EXPECT_EQ(r.modules, modules);
  EXPECT_EQ(r.matched, modules);
  EXPECT_EQ(a.modules.size(), modules);
  EXPECT_TRUE(r.unmatched.empty()) << r.unmatched.front();
  EXPECT_TRUE(r.unused_keys.empty()) << r.unused_keys.front();
  EXPECT_TRUE(r.shape_mismatch.empty());
  EXPECT_TRUE(r.ambiguous.empty());
  EXPECT_TRUE(r.incomplete.empty());
  EXPECT_TRUE(r.duplicate_bindings.empty());
  EXPECT_TRUE(r.overlaps.empty());
}

// Every record of a LoRA over a whole reference layout (rank 1 keeps the files small) binds.
TEST(SynthAdapter, EveryRecordBindsOnEveryReferenceLayout) {
  TempDir dir;
  struct Case {
    const char* ref;
    uint64_t modules;  // kohya counts: SD1 192 UNet + 72 CLIP, SDXL 722 + 264
  };
  for (const auto& c : std::vector<Case>{{"sd1", 192 + 72},
                                         {"sd2", 192 + 144},
                                         {"sdxl", 722 + 72 + 192},
                                         {"sd3", 24 * 5 + 23 * 5 + 2 + 264},
                                         {"flux", 19 * 2 * 5 + 38 * 3 + 72}}) {
    SCOPED_TRACE(c.ref);
    const auto model = model::ModelIndex::reference(c.ref);
    tools::SynthAdapterOptions o;
    o.rank = 1;
    o.alpha = 1;
    o.text_encoder = true;
    o.modulation = true;
    const auto path = (dir / (std::string(c.ref) + ".safetensors")).string();
    auto res = tools::synth_adapter(model, o, path);
    EXPECT_EQ(res.modules, c.modules);
    expect_all_bind(adapter::parse_file(path, model), res.modules);
    std::filesystem::remove(path);
  }
}

TEST(SynthAdapter, DeltaIsAFewPercentOfTheWeightsAndDeterministic) {
  TempDir dir;
  const auto mpath = (dir / "m.safetensors").string();
  tools::synth_model(small("sd1", {"input_blocks.1.1.",
                                   "cond_stage_model.transformer.text_model."
                                   "encoder.layers.0."}),
                     mpath);
  const auto model = model::ModelIndex::from_source(*io::open_tensor_source(mpath));
  tools::SynthAdapterOptions o;
  o.rank = 8;
  o.alpha = 4;
  o.text_encoder = true;
  const auto a = (dir / "a.safetensors").string(), b = (dir / "b.safetensors").string();
  auto res = tools::synth_adapter(model, o, a);
  // attn1 q/k/v/out, attn2 q/k/v/out, ff 0/2, proj_in/out; CLIP q/k/v/out, fc1/fc2.
  EXPECT_EQ(res.modules, 12u + 6u);
  const auto parsed = adapter::parse_file(a, model);
  expect_all_bind(parsed, res.modules);
  // proj_in of SD1 is a 1x1 convolution: the factors keep the kernel dimensions.
  auto src = io::open_tensor_source(a);
  EXPECT_EQ(src->find("lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight")->shape,
            (std::vector<uint64_t>{8, 320, 1, 1}));
  EXPECT_EQ(src->find("lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight")->shape,
            (std::vector<uint64_t>{320, 8, 1, 1}));
  EXPECT_NE(src->find("lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha"), nullptr);
  // RMS of (α/r)·up·down relative to the weights' σ = 0.02.
  for (const char* k :
       {"lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k",
        "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj"}) {
    auto up = decode_tensor(*src, std::string(k) + ".lora_up.weight");
    auto down = decode_tensor(*src, std::string(k) + ".lora_down.weight");
    const uint64_t out = up.size() / 8, in = down.size() / 8;
    double sq = 0;
    for (uint64_t i = 0; i < out; ++i)
      for (uint64_t j = 0; j < in; ++j) {
        double d = 0;
        for (uint64_t r = 0; r < 8; ++r) d += double(up[i * 8 + r]) * down[r * in + j];
        sq += (0.5 * d) * (0.5 * d);
      }
    const double ratio = std::sqrt(sq / double(out * in)) / 0.02;
    EXPECT_GT(ratio, 0.01) << k;
    EXPECT_LT(ratio, 0.05) << k;
  }
  tools::synth_adapter(model, o, b);
  EXPECT_TRUE(read_file(a) == read_file(b));
  o.seed = 3;
  tools::synth_adapter(model, o, b);
  EXPECT_FALSE(read_file(a) == read_file(b));
  // A filter narrows the targets; one that matches nothing is an error.
  o.include = {"attn1"};
  o.text_encoder = false;
  EXPECT_EQ(tools::synth_adapter(model, o, b).modules, 4u);
  o.include = {"nothing"};
  EXPECT_THROW(tools::synth_adapter(model, o, b), InvalidArgument);
}

}  // namespace
}  // namespace lorakit::testing
