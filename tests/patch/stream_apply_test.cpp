// The streaming (row-tiled) path of patch::apply gives the bytes and figures of the general
// whole-tensor path, for every output type, on sliced bindings and multi-tile tensors.
#include "patch/stream_apply.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "lorakit/adapter.hpp"
#include "lorakit/patch.hpp"
#include "patch/patch_fixtures.hpp"
#include "test_util.hpp"

namespace lorakit {
namespace {

TEST(StreamApply, SameBytesAsTheGeneralPath) {
  testing::TempDir dir;
  // FLUX at width 256: linear1 [1792, 256] spans several 64K-element tiles.
  auto t = testing::mini_model("flux",
                               {"double_blocks.0.", "single_blocks.0.", "img_in.", "guidance_in.",
                                "time_in.", "vector_in.", "final_layer."},
                               DType::BF16, 2, 12);
  testing::write_tensors(dir / "m.safetensors", t);
  auto base = io::open_tensor_source((dir / "m.safetensors").string());
  auto model = model::ModelIndex::from_source(*base);
  const uint64_t h = 256, r = 8;
  // A kohya record on the whole linear1 and a diffusers record on a slice of it (to_k rows), in two
  // adapters; plus one on a whole qkv.
  testing::write_tensors(dir / "a.safetensors",
                         {{"lora_unet_single_blocks_0_linear1.lora_down.weight",
                           DType::F32,
                           {r, h},
                           testing::randn(r * h, 1, 0.1f)},
                          {"lora_unet_single_blocks_0_linear1.lora_up.weight",
                           DType::F32,
                           {7 * h, r},
                           testing::randn(7 * h * r, 2, 0.1f)},
                          {"lora_unet_single_blocks_0_linear1.alpha", DType::F32, {}, {4.0f}},
                          {"lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight",
                           DType::F32,
                           {r, h},
                           testing::randn(r * h, 3, 0.1f)},
                          {"lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight",
                           DType::F32,
                           {3 * h, r},
                           testing::randn(3 * h * r, 4, 0.1f)}});
  testing::write_tensors(dir / "b.safetensors",
                         {{"transformer.single_transformer_blocks.0.attn.to_k.lora_A.weight",
                           DType::F32,
                           {r, h},
                           testing::randn(r * h, 5, 0.1f)},
                          {"transformer.single_transformer_blocks.0.attn.to_k.lora_B.weight",
                           DType::F32,
                           {h, r},
                           testing::randn(h * r, 6, 0.1f)}});
  auto a = std::make_shared<adapter::Adapter>(
      adapter::parse_file((dir / "a.safetensors").string(), model));
  auto b = std::make_shared<adapter::Adapter>(
      adapter::parse_file((dir / "b.safetensors").string(), model));
  ASSERT_EQ(a->modules.size(), 2u);
  ASSERT_EQ(b->modules.size(), 1u);
  auto plan = patch::make_plan(model, {{a, 0.9f}, {b, -1.25f}});
  ASSERT_EQ(plan.units.size(), 2u);
  for (DType dt : {DType::BF16, DType::F16, DType::F32, DType::F8_E4M3, DType::F8_E5M2, DType::Q8_0,
                   DType::Q4_K, DType::Q6_K}) {
    for (auto rounding : {patch::Fp8Rounding::Stochastic, patch::Fp8Rounding::Nearest}) {
      patch::Options o;
      o.output_dtype = dt;
      o.fp8_rounding = rounding;
      for (const auto& u : plan.units) {
        SCOPED_TRACE(std::string(name(dt)) + " " + u.tensors[0]);
        ASSERT_TRUE(patch::detail::streamable(plan, u, *base));
        const auto fast = patch::apply(plan, u, *base, o);
        const auto slow = patch::detail::apply_general(plan, u, *base, o);
        ASSERT_EQ(fast.tensors.size(), 1u);
        ASSERT_EQ(slow.tensors.size(), 1u);
        EXPECT_EQ(fast.tensors[0].dtype, dt);
        EXPECT_EQ(fast.tensors[0].bytes, slow.tensors[0].bytes);
        EXPECT_NEAR(fast.tensors[0].stats.retention, slow.tensors[0].stats.retention, 1e-9);
        EXPECT_NEAR(fast.tensors[0].stats.rel_error, slow.tensors[0].stats.rel_error, 1e-9);
        EXPECT_NEAR(fast.tensors[0].stats.delta_norm, slow.tensors[0].stats.delta_norm,
                    1e-9 * slow.tensors[0].stats.delta_norm);
        EXPECT_EQ(fast.tensors[0].stats.saturated, slow.tensors[0].stats.saturated);
      }
    }
  }
}

}  // namespace
}  // namespace lorakit
