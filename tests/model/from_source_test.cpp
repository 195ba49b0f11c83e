// ModelIndex::from_source on real files written to disk (safetensors, GGUF, a diffusers folder),
// and the GGUF architecture check of file-formats.md §3.3.
#include <gtest/gtest.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "lorakit/error.hpp"
#include "lorakit/io.hpp"
#include "lorakit/model.hpp"
#include "model/corpus_util.hpp"
#include "test_util.hpp"

namespace lorakit::model {
namespace {

namespace fs = std::filesystem;

// A few keys of a bare SD1 UNet with their real shapes: enough for detection.
std::vector<io::TensorDecl> sd1_unet_subset() {
  return {{"input_blocks.0.0.weight", DType::F16, {320, 4, 3, 3}},
          {"input_blocks.1.1.proj_in.weight", DType::F16, {320, 320, 1, 1}},
          {"input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", DType::F16, {320, 768}},
          {"input_blocks.3.0.op.weight", DType::F16, {320, 320, 3, 3}},
          {"output_blocks.2.1.conv.weight", DType::F16, {1280, 1280, 3, 3}}};
}

uint64_t bytes_of(const io::TensorDecl& d) {
  uint64_t n = 2;
  for (auto s : d.shape) n *= s;
  return n;
}

io::MetadataEntry str_kv(const std::string& k, const std::string& v) {
  io::MetadataEntry e;
  e.key = k;
  e.value.type = io::GgufType::STRING;
  e.value.value = v;
  return e;
}

void write_gguf(const fs::path& p, const std::vector<io::MetadataEntry>& kv) {
  auto decls = sd1_unet_subset();
  io::GgufWriter w(p.string(), kv, decls);
  for (const auto& d : decls) w.write(d.name, std::vector<std::byte>(bytes_of(d)));
  w.commit();
}

std::vector<TensorMeta> metas(const std::vector<io::TensorDecl>& decls) {
  std::vector<TensorMeta> out;
  for (const auto& d : decls) out.push_back({d.name, d.dtype, d.shape});
  return out;
}

TEST(ModelFromSource, GgufWithAgreeingArchitecture) {
  testing::TempDir dir;
  write_gguf(dir / "unet.gguf", {str_kv("general.architecture", "sd1")});
  ModelIndex m = ModelIndex::from_source(*io::open_tensor_source((dir / "unet.gguf").string()));
  EXPECT_EQ(m.origin(), (dir / "unet.gguf").string());
  EXPECT_EQ(m.arch().family, Family::SD1);
  EXPECT_EQ(m.layout(), Layout::Bfl);
  EXPECT_EQ(m.arch().context_dim, 768u);
  ASSERT_NE(m.find("input_blocks.0.0.weight"), nullptr);
  EXPECT_EQ(m.find("input_blocks.0.0.weight")->dtype, DType::F16);
  bool upsampler = false;
  for (const auto& p : m.module_paths())
    upsampler |= p.naming == Naming::Diffusers && p.path == "up_blocks.0.upsamplers.0.conv";
  EXPECT_TRUE(upsampler);
}

TEST(ModelFromSource, GgufArchitectureDisagreementIsAFormatError) {
  testing::TempDir dir;
  write_gguf(dir / "unet.gguf", {str_kv("general.architecture", "flux")});
  auto src = io::open_tensor_source((dir / "unet.gguf").string());
  try {
    ModelIndex::from_source(*src);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.category(), "arch_mismatch");
    EXPECT_NE(std::string(e.what()).find("flux"), std::string::npos) << e.what();
  }
}

TEST(ModelFromSource, GgufArchitectureRules) {
  auto t = metas(sd1_unet_subset());
  auto with = [&](const std::string& arch) {
    return ModelIndex::from_tensors("x.gguf", t, {str_kv("general.architecture", arch)});
  };
  EXPECT_EQ(with("sd1").arch().family, Family::SD1);
  EXPECT_THROW(with("sdxl"), FormatError);
  EXPECT_THROW(with("sd3"), FormatError);
  EXPECT_THROW(with("flux"), FormatError);
  // Labels other than flux/sd1/sdxl/sd3 leave detection to the keys.
  EXPECT_EQ(with("pig").arch().family, Family::SD1);
  EXPECT_EQ(with("t5").arch().family, Family::SD1);
  EXPECT_EQ(ModelIndex::from_tensors("x.gguf", t).arch().family, Family::SD1);
  // "sd1" is what ComfyUI-GGUF writes for SD2 as well (same UNet layout).
  auto sd2 = metas(sd1_unet_subset());
  sd2[2].shape = {320, 1024};
  EXPECT_EQ(ModelIndex::from_tensors("x.gguf", sd2, {str_kv("general.architecture", "sd1")})
                .arch()
                .family,
            Family::SD2);
  // A labelled file whose keys are no known architecture disagrees too.
  EXPECT_THROW(ModelIndex::from_tensors("x.gguf", {{"foo.weight", DType::F16, {4}}},
                                        {str_kv("general.architecture", "flux")}),
               FormatError);
  // Real FLUX keys labelled flux are fine.
  auto flux = testing::corpus_tensors("sdmecha_flux_dev_bfl_transformer_only.txt");
  EXPECT_EQ(ModelIndex::from_tensors("f.gguf", flux, {str_kv("general.architecture", "flux")})
                .arch()
                .family,
            Family::Flux);
  EXPECT_THROW(ModelIndex::from_tensors("f.gguf", flux, {str_kv("general.architecture", "sdxl")}),
               FormatError);
}

TEST(ModelFromSource, DiffusersFolder) {
  testing::TempDir dir;
  testing::write_file(dir / "model_index.json", std::string(R"({
    "_class_name": "StableDiffusionPipeline",
    "unet": ["diffusers", "UNet2DConditionModel"]
  })"));
  fs::create_directories(dir / "unet");
  std::vector<io::TensorDecl> decls = {
      {"conv_in.weight", DType::F16, {320, 4, 3, 3}},
      {"time_embedding.linear_1.weight", DType::F16, {1280, 320}},
      {"down_blocks.0.attentions.0.proj_in.weight", DType::F16, {320, 320, 1, 1}},
      {"down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight", DType::F16, {320, 768}},
      {"down_blocks.0.resnets.0.conv1.weight", DType::F16, {320, 320, 3, 3}},
      {"down_blocks.0.resnets.1.conv1.weight", DType::F16, {320, 320, 3, 3}}};
  {
    io::SafetensorsWriter w((dir / "unet" / "diffusion_pytorch_model.safetensors").string(), decls);
    for (const auto& d : decls) w.write(d.name, std::vector<std::byte>(bytes_of(d)));
    w.commit();
  }
  ModelIndex m = ModelIndex::from_source(*io::open_tensor_source(dir.path().string()));
  EXPECT_EQ(m.arch().family, Family::SD1);
  EXPECT_EQ(m.layout(), Layout::Diffusers);
  ASSERT_EQ(m.components().size(), 1u);
  EXPECT_EQ(m.components()[0].prefix, "unet.");
  EXPECT_EQ(m.components()[0].naming, Naming::Diffusers);
  const ModulePath* own = nullptr;
  const ModulePath* ldm = nullptr;
  for (const auto& p : m.module_paths()) {
    if (p.path == "down_blocks.0.attentions.0.proj_in") own = &p;
    if (p.path == "input_blocks.1.1.proj_in") ldm = &p;
  }
  ASSERT_NE(own, nullptr);
  ASSERT_NE(ldm, nullptr);
  EXPECT_EQ(ldm->naming, Naming::Original);
  EXPECT_EQ(ldm->binding.parts[0].tensor, "unet.down_blocks.0.attentions.0.proj_in.weight");
}

TEST(ModelFromSource, SafetensorsWithoutADiffusionModel) {
  auto src = io::open_tensor_source(
      (testing::shared_dir() /
       "corpus/small_files/aitoolkit_stable_diffusion_sdxl_ldm_base.safetensors")
          .string());
  ModelIndex m = ModelIndex::from_source(*src);
  EXPECT_EQ(m.tensors().size(), 3u);
  EXPECT_EQ(m.arch().family, Family::Unknown);
  EXPECT_TRUE(m.arch().unsupported.empty());
  EXPECT_THROW(m.require_supported(), FormatError);
  ASSERT_NE(m.find("conditioner.embedders.1.model.logit_scale"), nullptr);
  EXPECT_TRUE(m.find("conditioner.embedders.1.model.logit_scale")->shape.empty());
}

TEST(ModelFromTensors, DuplicateNamesAreRejected) {
  EXPECT_THROW(
      ModelIndex::from_tensors("x", {{"a.weight", DType::F16, {1}}, {"a.weight", DType::F16, {1}}}),
      InvalidArgument);
  ModelIndex empty = ModelIndex::from_tensors("empty", {});
  EXPECT_EQ(empty.arch().family, Family::Unknown);
  EXPECT_EQ(empty.layout(), Layout::Unknown);
  EXPECT_TRUE(empty.module_paths().empty());
}

}  // namespace
}  // namespace lorakit::model
