// The `lorakit` binary as a user runs it: exit codes, the one-line error format, JSON output.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

int count_lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

TEST(Cli, InspectBadFileGivesExit2AndOneErrorLine) {
  TempDir dir;
  for (const char* f : {"safetensors/cases/bad_hole", "gguf/bad_data_truncated.gguf",
                        "safetensors/cases/bad_7_bytes"}) {
    SCOPED_TRACE(f);
    const auto path = testdata(f).string();
    auto r = run_lorakit("inspect " + path, dir.path());
    EXPECT_EQ(r.status, 2);
    EXPECT_EQ(count_lines(r.err), 1) << r.err;
    EXPECT_EQ(r.err.rfind("lorakit: error: " + path + ": ", 0), 0u) << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  auto r = run_lorakit("inspect " + (dir / "missing.safetensors").string(), dir.path());
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("missing.safetensors"), std::string::npos);
}

TEST(Cli, InspectJsonWithTensors) {
  TempDir dir;
  auto r = run_lorakit("inspect --json --tensors " +
                           testdata("safetensors/canonical_example.safetensors").string(),
                       dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "safetensors");
  EXPECT_EQ(j["tensor_count"], 4);
  EXPECT_EQ(j["metadata"]["format"], "pt");
  ASSERT_EQ(j["tensors"].size(), 4u);
  EXPECT_EQ(j["tensors"][0]["name"], "b.weight");
  EXPECT_EQ(j["tensors"][0]["shape"], nlohmann::json::array({2, 3}));
  EXPECT_EQ(j["tensors"][0]["bytes"], 24);
}

TEST(Cli, QuantizeThenDiffExitCodes) {
  TempDir dir;
  auto w = quant_input("weights");
  write_safetensors(dir / "m.safetensors", {{"w", DType::F32, {64, 256}, as_bytes(w)}});
  const auto m = (dir / "m.safetensors").string(), q = (dir / "m.gguf").string();
  auto r = run_lorakit("quantize " + m + " -o " + q + " --type q4_k --threads 1", dir.path());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("1 tensors re-encoded to Q4_K"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << "no progress bar when stderr is not a terminal: " << r.err;
  EXPECT_EQ(run_lorakit("diff " + m + " " + m, dir.path()).status, 0);
  auto d = run_lorakit("diff --json " + m + " " + q, dir.path());
  EXPECT_EQ(d.status, 1);
  auto j = nlohmann::json::parse(d.out);
  EXPECT_EQ(j["tensors"][0]["dtype_b"], "Q4_K");
  EXPECT_GT(j["tensors"][0]["max_abs_error"].get<double>(), 0.0);
  EXPECT_EQ(run_lorakit("diff " + m + " " + (dir / "nope.gguf").string(), dir.path()).status, 2);
  EXPECT_EQ(run_lorakit("quantize " + m + " -o " + q + " --type Q9_9", dir.path()).status, 2);
}

}  // namespace
}  // namespace lorakit::testing
