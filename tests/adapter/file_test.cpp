// parse_file on a real safetensors file: the reader's TensorSource, metadata and scalar decoding.
#include <gtest/gtest.h>

#include <cstring>

#include "adapter_fixtures.hpp"
#include "lorakit/codec.hpp"
#include "test_util.hpp"

namespace lorakit::testing {
namespace {

constexpr const char* kSd1 = "arenasys_assembled_sd15_ldm_full.txt";

TEST(AdapterFile, ParsesASafetensorsFile) {
  TempDir dir;
  const std::string path = (dir / "tiny_peft.safetensors").string();
  const std::string p = "unet.down_blocks.0.attentions.0.proj_in";
  {
    io::SafetensorsWriter w(path,
                            {{p + ".lora_A.weight", DType::F16, {4, 320}},
                             {p + ".lora_B.weight", DType::F16, {320, 4}},
                             {p + ".alpha", DType::F32, {}}},
                            std::map<std::string, std::string>{
                                {"lora_adapter_metadata", R"({"r": 4, "lora_alpha": 8})"}});
    std::vector<std::byte> zeros(320 * 4 * 2);
    w.write(p + ".lora_A.weight", zeros);
    w.write(p + ".lora_B.weight", zeros);
    const float alpha = 2.0f;
    std::byte a[4];
    std::memcpy(a, &alpha, 4);
    w.write(p + ".alpha", a);
    w.commit();
  }
  auto a = adapter::parse_file(path, corpus_base(kSd1));
  SCOPED_TRACE(report_summary(a.report));
  EXPECT_EQ(a.report.format, adapter::Format::Peft);
  ASSERT_EQ(a.modules.size(), 1u);
  const auto& m = a.modules[0];
  EXPECT_EQ(m.target.parts[0].tensor, "model.diffusion_model.input_blocks.1.1.proj_in.weight");
  EXPECT_FLOAT_EQ(*m.alpha, 2.0f);  // the record's key wins over lora_alpha
  EXPECT_FLOAT_EQ(m.alpha_scale, 0.5f);
  ASSERT_TRUE(a.source);
  // Factors point into the source the adapter keeps alive.
  EXPECT_EQ(m.factors.at("down").info, a.source->find(p + ".lora_A.weight"));
  EXPECT_EQ(m.keys.size(), 3u);
}

TEST(AdapterFile, UnreadableFileThrows) {
  TempDir dir;
  write_file(dir / "bad.safetensors", std::string("not a safetensors file"));
  EXPECT_THROW(adapter::parse_file((dir / "bad.safetensors").string(), corpus_base(kSd1)),
               FormatError);
}

}  // namespace
}  // namespace lorakit::testing
