#include <gtest/gtest.h>

#include <cmath>

#include "tools/diff.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

TEST(Diff, IdenticalFilesAcrossFormatsAreIdentical) {
  TempDir dir;
  auto w = quant_input("uniform");
  std::vector<FixtureTensor> ts = {{"a", DType::F32, {16, 256}, as_bytes(w)},
                                   {"b", DType::F32, {3}, as_bytes({1, 2, 3})}};
  write_safetensors(dir / "x.safetensors", ts);
  write_gguf(dir / "x.gguf", ts);
  auto r = tools::diff((dir / "x.safetensors").string(), (dir / "x.gguf").string());
  EXPECT_TRUE(r.same());
  EXPECT_EQ(r.identical, 2u);
}

// A Q8_0 GGUF against its F32 source: the errors are those of the reference dequantization
// (testdata/quants/weights.Q8_0.deq.f32), computed here independently in double.
TEST(Diff, QuantizedAgainstSourceReportsReferenceErrors) {
  TempDir dir;
  auto w = quant_input("weights");
  auto deq = as_floats(read_file(testdata("quants/weights.Q8_0.deq.f32")));
  write_safetensors(dir / "src.safetensors", {{"w", DType::F32, {64, 256}, as_bytes(w)}});
  write_gguf(dir / "q.gguf",
             {{"w", DType::Q8_0, {64, 256}, read_file(testdata("quants/weights.Q8_0.bin"))}});
  double max_abs = 0, d2 = 0, n2 = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    double e = std::fabs(double(w[i]) - double(deq[i]));
    max_abs = std::max(max_abs, e);
    d2 += e * e;
    n2 += double(w[i]) * double(w[i]);
  }
  auto r = tools::diff((dir / "src.safetensors").string(), (dir / "q.gguf").string());
  EXPECT_FALSE(r.same());
  ASSERT_EQ(r.common.size(), 1u);
  const auto& d = r.common[0];
  EXPECT_TRUE(d.dtype_differs);
  EXPECT_FALSE(d.shape_differs);
  ASSERT_TRUE(d.compared);
  EXPECT_EQ(d.max_abs, max_abs);
  EXPECT_NEAR(d.rel_frobenius, std::sqrt(d2) / std::sqrt(n2), 1e-12);
  EXPECT_GT(d.max_abs, 0.0);
}

TEST(Diff, MissingNamesShapesAndValues) {
  TempDir dir;
  write_safetensors(dir / "a.safetensors", {{"same", DType::F32, {2}, as_bytes({1, 2})},
                                            {"val", DType::F32, {2}, as_bytes({1, 2})},
                                            {"shape", DType::F32, {2}, as_bytes({1, 2})},
                                            {"only_a", DType::F32, {1}, as_bytes({0})}});
  write_safetensors(dir / "b.safetensors", {{"same", DType::F32, {2}, as_bytes({1, 2})},
                                            {"val", DType::F32, {2}, as_bytes({1, 2.5f})},
                                            {"shape", DType::F32, {1, 2}, as_bytes({1, 2})},
                                            {"only_b", DType::F32, {1}, as_bytes({0})}});
  auto r = tools::diff((dir / "a.safetensors").string(), (dir / "b.safetensors").string());
  EXPECT_FALSE(r.same());
  EXPECT_EQ(r.only_a, std::vector<std::string>{"only_a"});
  EXPECT_EQ(r.only_b, std::vector<std::string>{"only_b"});
  EXPECT_EQ(r.identical, 1u);
  for (const auto& d : r.common) {
    if (d.name == "val") {
      EXPECT_EQ(d.max_abs, 0.5);
      EXPECT_NEAR(d.rel_frobenius, 0.5 / std::sqrt(5.0), 1e-15);
    }
    if (d.name == "shape") {
      EXPECT_TRUE(d.shape_differs);
      EXPECT_FALSE(d.compared);
    }
  }
  auto j = tools::render_json(r);
  EXPECT_EQ(j["identical"], false);
  EXPECT_EQ(j["summary"]["differ"], 2);
}

TEST(Diff, NanAgainstNumberIsAnInfiniteError) {
  TempDir dir;
  write_safetensors(dir / "a.safetensors", {{"t", DType::F32, {2}, as_bytes({NAN, 1})}});
  write_safetensors(dir / "b.safetensors", {{"t", DType::F32, {2}, as_bytes({0, 1})}});
  auto r = tools::diff((dir / "a.safetensors").string(), (dir / "b.safetensors").string());
  ASSERT_EQ(r.common.size(), 1u);
  EXPECT_TRUE(std::isinf(r.common[0].max_abs));
}

}  // namespace
}  // namespace lorakit::testing
