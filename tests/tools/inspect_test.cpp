#include <gtest/gtest.h>

#include "lorakit/error.hpp"
#include "tools/inspect.hpp"
#include "tools/tool_fixtures.hpp"

namespace lorakit::testing {
namespace {

TEST(Inspect, CountsDtypesParametersAndBytes) {
  TempDir dir;
  std::vector<FixtureTensor> ts = {
      {"w", DType::F16, {4, 8}, std::vector<std::byte>(64)},
      {"b", DType::F32, {8}, std::vector<std::byte>(32)},
      {"c", DType::F32, {2, 3}, std::vector<std::byte>(24)},
  };
  write_safetensors(dir / "m.safetensors", ts, {{"format", "pt"}, {"ss_network_dim", "32"}});
  auto r = tools::inspect((dir / "m.safetensors").string());
  EXPECT_EQ(r.format, io::FileFormat::Safetensors);
  EXPECT_EQ(r.tensor_count, 3u);
  EXPECT_EQ(r.parameters, 32u + 8u + 6u);
  EXPECT_EQ(r.tensor_bytes, 64u + 32u + 24u);
  ASSERT_EQ(r.histogram.size(), 2u);
  EXPECT_EQ(r.histogram[DType::F32].tensors, 2u);
  EXPECT_EQ(r.histogram[DType::F32].parameters, 14u);
  EXPECT_EQ(r.histogram[DType::F16].bytes, 64u);
  ASSERT_EQ(r.metadata.size(), 2u);

  auto j = tools::render_json(r, true);
  EXPECT_EQ(j["tensor_count"], 3);
  EXPECT_EQ(j["metadata"]["ss_network_dim"], "32");
  EXPECT_EQ(j["dtypes"]["F16"]["parameters"], 32);
  ASSERT_EQ(j["tensors"].size(), 3u);
  auto text = tools::render_text(r, true);
  EXPECT_NE(text.find("parameters: 46"), std::string::npos) << text;
  EXPECT_NE(text.find("w\tF16\t[4, 8]\t64"), std::string::npos) << text;
}

TEST(Inspect, GgufCorpusFileHistogram) {
  // ok_flux_f32_f16_q8_q4k.gguf (testdata/gguf/README.md): a (4,256) array as F32, F16, Q8_0, BF16 and
  // random Q4_K bytes, a 7-element F32 bias and a [2,3,3,3] F32 conv.
  auto r = tools::inspect(testdata("gguf/ok_flux_f32_f16_q8_q4k.gguf").string());
  EXPECT_EQ(r.format, io::FileFormat::Gguf);
  EXPECT_EQ(r.tensor_count, 7u);
  EXPECT_EQ(r.histogram[DType::F32].tensors, 3u);
  EXPECT_EQ(r.histogram[DType::F32].parameters, 1024u + 7u + 54u);
  EXPECT_EQ(r.histogram[DType::Q8_0].bytes, 1024u / 32 * 34);
  EXPECT_EQ(r.histogram[DType::Q4_K].bytes, 4u * 144);
  EXPECT_EQ(r.histogram[DType::BF16].bytes, 2048u);
}

TEST(Inspect, LongMetadataValuesAreCutInText) {
  TempDir dir;
  std::string big(5000, 'x');
  write_safetensors(dir / "m.safetensors", {}, {{"ss_tag_frequency", big}});
  auto r = tools::inspect((dir / "m.safetensors").string());
  auto text = tools::render_text(r, false, 100);
  EXPECT_NE(text.find("(5000 bytes)"), std::string::npos);
  EXPECT_EQ(text.find(std::string(101, 'x')), std::string::npos);
  EXPECT_EQ(tools::render_json(r, false)["metadata"]["ss_tag_frequency"], big);
}

TEST(Inspect, BadFileThrowsFormatErrorNamingTheFile) {
  auto p = testdata("safetensors/cases/bad_overlap").string();
  try {
    tools::inspect(p);
    FAIL() << "accepted a bad file";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), p);
    EXPECT_EQ(e.category(), "bad_offsets");
  }
}

}  // namespace
}  // namespace lorakit::testing
