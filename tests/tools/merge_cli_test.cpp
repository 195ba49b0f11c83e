// `lorakit merge` as a user runs it: exit codes, the one-line error, JSON output, strength 0.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tools/synth.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

struct Files {
  TempDir dir;
  std::string model = (dir / "m.safetensors").string();
  std::string lora = (dir / "l.safetensors").string();
  std::string flux = (dir / "flux.safetensors").string();
  Files() {
    tools::SynthModelOptions m;
    m.include = {"input_blocks.1.1.transformer_blocks.0.attn"};
    tools::synth_model(m, model);
    tools::SynthAdapterOptions a;
    a.rank = 4;
    tools::synth_adapter(model::ModelIndex::from_source(*io::open_tensor_source(model)), a, lora);
    a.include = {"double_blocks.0.img_attn.proj"};
    tools::synth_adapter(model::ModelIndex::reference("flux"), a, flux);
  }
};

TEST(MergeCli, JsonSummaryAndStrengthZeroIsIdentical) {
  Files f;
  const auto out = (f.dir / "out.safetensors").string();
  auto r =
      run_lorakit("merge " + f.model + " -l " + f.lora + ":0.5 -o " + out + " --json --threads 2",
                  f.dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << "no progress bar when stderr is not a terminal: " << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["summary"]["patched"], 8);  // attn1 and attn2: q, k, v, out
  EXPECT_EQ(j["adapters"][0]["strength"], 0.5);
  EXPECT_EQ(run_lorakit("diff " + f.model + " " + out, f.dir.path()).status, 1);

  r = run_lorakit("merge " + f.model + " -l " + f.lora + ":0 -o " + out, f.dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("0 tensors patched"), std::string::npos) << r.out;
  EXPECT_EQ(run_lorakit("diff " + f.model + " " + out, f.dir.path()).status, 0);

  r = run_lorakit("merge " + f.model + " -l " + f.lora + " -o " + (f.dir / "q.gguf").string() +
                      " --dtype q8_0 --quant-policy upcast:bf16",
                  f.dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  auto g = io::open_tensor_source((f.dir / "q.gguf").string());
  EXPECT_EQ(g->find("model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn1.to_q.weight")
                ->dtype,
            DType::BF16);
}

TEST(MergeCli, RefusalIsOneErrorLineAndNoFile) {
  Files f;
  const auto out = (f.dir / "out.safetensors").string();
  auto r = run_lorakit("merge " + f.model + " -l " + f.flux + " -o " + out, f.dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_EQ(r.err.rfind("lorakit: error: merge refused: flux.safetensors", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);
  EXPECT_NE(r.out.find("flux"), std::string::npos) << "the check report says why: " << r.out;
  EXPECT_FALSE(std::filesystem::exists(out));
  for (const char* bad : {" --dtype q9_9", " --quant-policy upcast:q4_0", " --rounding maybe",
                          " --quant-policy runtime"}) {
    SCOPED_TRACE(bad);
    r = run_lorakit("merge " + f.model + " -l " + f.lora + " -o " + out + bad, f.dir.path());
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(r.err.rfind("lorakit: error: ", 0), 0u) << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
}

}  // namespace
}  // namespace lorakit::testing
