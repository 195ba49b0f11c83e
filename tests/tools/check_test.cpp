// `lorakit check` as a user runs it: against built-in layouts, with real key layouts from the corpus.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "model/corpus_util.hpp"
#include "tools/check.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

// A tiny SD1 kohya LoRA: rank 4 on the cross-attention k/v of down_blocks.1 (in 768, out 640).
void write_sd1_lora(const std::filesystem::path& p) {
  std::vector<FixtureTensor> ts;
  for (const char* m : {"to_k", "to_v"}) {
    const std::string base =
        std::string("lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_") + m;
    ts.push_back({base + ".lora_down.weight", DType::F16, {4, 768}, std::vector<std::byte>(4 * 768 * 2)});
    ts.push_back({base + ".lora_up.weight", DType::F16, {640, 4}, std::vector<std::byte>(640 * 4 * 2)});
    ts.push_back({base + ".alpha", DType::F32, {}, as_bytes({2.0f})});
  }
  write_safetensors(p, ts, {{"ss_network_dim", "4"}});
}

// The first blocks of a real ai-toolkit/diffusers FLUX LoRA key list (no proj_mlp).
void write_flux_lora(const std::filesystem::path& p) {
  std::vector<FixtureTensor> ts;
  for (const auto& t : corpus_tensors("invokeai_flux_lora_diffusers_no_proj_mlp_format.txt")) {
    if (t.name.find("blocks.0.") == std::string::npos) continue;
    uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    ts.push_back({t.name, DType::F16, t.shape, std::vector<std::byte>(n * 2)});
  }
  ASSERT_GT(ts.size(), 10u);
  write_safetensors(p, ts);
}

TEST(Check, Sd1LoraOnSd1MatchesFully) {
  TempDir dir;
  write_sd1_lora(dir / "style.safetensors");
  auto r = run_lorakit("check --arch sd1 " + (dir / "style.safetensors").string() + ":0.7",
                       dir.path());
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("matched 2 of 2 modules"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("strength 0.7"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("trained for: sd1"), std::string::npos) << r.out;
}

TEST(Check, Sd1LoraOnSdxlGivesTheClearMismatchLine) {
  TempDir dir;
  write_sd1_lora(dir / "style.safetensors");
  auto r = run_lorakit("check --arch sdxl " + (dir / "style.safetensors").string(), dir.path());
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("style.safetensors: trained for sd1 (cross-attention dim 768), model is "
                       "sdxl (2048): 0 of 2 modules match"),
            std::string::npos)
      << r.out;
  auto j = run_lorakit("check --json --arch sdxl " + (dir / "style.safetensors").string(),
                       dir.path());
  EXPECT_EQ(j.status, 1);
  auto js = nlohmann::json::parse(j.out);
  EXPECT_EQ(js["model"]["arch"], "sdxl");
  EXPECT_FALSE(js["model"].contains("path"));
  EXPECT_EQ(js["adapters"][0]["trained_for"], "sd1");
  EXPECT_EQ(js["adapters"][0]["matched"], 0);
  EXPECT_EQ(js["adapters"][0]["modules"], 2);
}

TEST(Check, FluxLoraWithoutProjMlpBindsToSlicesOfLinear1) {
  TempDir dir;
  write_flux_lora(dir / "flux.safetensors");
  auto r = run_lorakit("check --json --arch flux " + (dir / "flux.safetensors").string(),
                       dir.path());
  ASSERT_EQ(r.status, 0) << r.out << r.err;
  auto j = nlohmann::json::parse(r.out);
  const auto& a = j["adapters"][0];
  EXPECT_EQ(a["matched"], a["modules"]);
  bool saw_q = false, saw_v = false;
  for (const auto& t : a["targets"]) {
    if (t["module"] == "transformer.single_transformer_blocks.0.attn.to_q") {
      saw_q = true;
      EXPECT_EQ(t["target"], "model.diffusion_model.single_blocks.0.linear1.weight");
      EXPECT_EQ(t["slice"], nlohmann::json::array({0, 3072}));
      EXPECT_EQ(t["type"], "lora");
      EXPECT_EQ(t["rank"], 16);
    }
    if (t["module"] == "transformer.single_transformer_blocks.0.attn.to_v") {
      saw_v = true;
      EXPECT_EQ(t["slice"], nlohmann::json::array({6144, 9216}));
    }
    EXPECT_NE(t["module"], "transformer.single_transformer_blocks.0.proj_mlp");
  }
  EXPECT_TRUE(saw_q);
  EXPECT_TRUE(saw_v);
}

TEST(Check, StrictFailsOnUnusedKeysAndErrorsExit2) {
  TempDir dir;
  std::vector<FixtureTensor> ts = {
      {"lora_unet_down_blocks_1_attentions_0_proj_in.lora_down.weight", DType::F16, {4, 640, 1, 1},
       std::vector<std::byte>(4 * 640 * 2)},
      {"lora_unet_down_blocks_1_attentions_0_proj_in.lora_up.weight", DType::F16, {640, 4, 1, 1},
       std::vector<std::byte>(640 * 4 * 2)},
      {"something_else_entirely", DType::F32, {1}, as_bytes({0})}};
  write_safetensors(dir / "a.safetensors", ts);
  const auto a = (dir / "a.safetensors").string();
  auto relaxed = run_lorakit("check --arch sd1 " + a, dir.path());
  EXPECT_EQ(relaxed.status, 0) << relaxed.out;
  auto strict = run_lorakit("check --strict --arch sd1 " + a, dir.path());
  EXPECT_EQ(strict.status, 1) << strict.out;
  EXPECT_NE(strict.out.find("something_else_entirely"), std::string::npos) << strict.out;
  EXPECT_EQ(run_lorakit("check --arch nope " + a, dir.path()).status, 2);
  EXPECT_EQ(run_lorakit("check --arch sd1 " + (dir / "missing.safetensors").string(), dir.path())
                .status,
            2);
}

TEST(Check, AdapterArgumentStrengthParsing) {
  EXPECT_EQ(tools::parse_adapter_arg("a.safetensors:0.5").strength, 0.5f);
  EXPECT_EQ(tools::parse_adapter_arg("a.safetensors:0.5").path, "a.safetensors");
  EXPECT_EQ(tools::parse_adapter_arg("a.safetensors").strength, 1.0f);
  EXPECT_EQ(tools::parse_adapter_arg("C:/x/a.safetensors").path, "C:/x/a.safetensors");
  EXPECT_EQ(tools::parse_adapter_arg("b:-1").strength, -1.0f);
}

}  // namespace
}  // namespace lorakit::testing
