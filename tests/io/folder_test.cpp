// Diffusers folders (model_index.json + component folders) open as one source named
// "<component>.<name>" (docs/decisions.md row 1); single-model folders open as their one weights
// file or index; open_tensor_source dispatches files by content.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/safetensors_folder.hpp"
#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

namespace fs = std::filesystem;
using lorakit::testing::TempDir;
using lorakit::testing::write_file;

void write_f32_file(const fs::path& p, const std::vector<std::string>& names, float base) {
  std::vector<TensorDecl> decls;
  for (const auto& n : names) decls.push_back({n, DType::F32, {2}});
  SafetensorsWriter w(p.string(), decls);
  for (size_t i = 0; i < names.size(); ++i) {
    const float v[2] = {base + static_cast<float>(i), -base};
    w.write(names[i], std::as_bytes(std::span(v)));
  }
  w.commit();
}

float first_value(const TensorSource& s, const std::string& name) {
  float v = 0;
  std::memcpy(&v, s.view(name).bytes.data(), sizeof v);
  return v;
}

std::string error_class(const fs::path& p, std::string* message = nullptr) {
  try {
    open_tensor_source(p.string());
    return "";
  } catch (const FormatError& e) {
    if (message) *message = e.message();
    return e.category();
  }
}

// A small SD-like pipeline: unet (single file), vae (model.safetensors), text_encoder (sharded),
// scheduler and tokenizer without weights, an absent optional component.
struct Pipeline {
  TempDir dir;
  Pipeline() {
    write_file(dir / "model_index.json", std::string(R"({
      "_class_name": "StableDiffusionPipeline",
      "_diffusers_version": "0.30.0",
      "feature_extractor": [null, null],
      "requires_safety_checker": false,
      "scheduler": ["diffusers", "PNDMScheduler"],
      "text_encoder": ["transformers", "CLIPTextModel"],
      "tokenizer": ["transformers", "CLIPTokenizer"],
      "unet": ["diffusers", "UNet2DConditionModel"],
      "vae": ["diffusers", "AutoencoderKL"]
    })"));
    fs::create_directories(dir / "unet");
    fs::create_directories(dir / "vae");
    fs::create_directories(dir / "text_encoder");
    fs::create_directories(dir / "scheduler");
    write_file(dir / "scheduler" / "scheduler_config.json", std::string("{}"));
    write_f32_file(dir / "unet" / "diffusion_pytorch_model.safetensors",
                   {"conv_in.weight", "conv_in.bias"}, 1);
    write_f32_file(dir / "vae" / "diffusion_pytorch_model.safetensors", {"decoder.conv_out.weight"},
                   10);
    write_f32_file(dir / "text_encoder" / "model-00001-of-00002.safetensors", {"emb"}, 20);
    write_f32_file(dir / "text_encoder" / "model-00002-of-00002.safetensors", {"final"}, 30);
    write_file(dir / "text_encoder" / "model.safetensors.index.json",
               std::string(R"({"weight_map":{"emb":"model-00001-of-00002.safetensors",)"
                           R"("final":"model-00002-of-00002.safetensors"}})"));
  }
};

TEST(DiffusersFolder, OpensEveryComponentWithPrefixedNames) {
  Pipeline p;
  auto src = open_tensor_source(p.dir.path().string());
  EXPECT_EQ(src->path(), p.dir.path().string());
  EXPECT_EQ(src->format(), FileFormat::Safetensors);
  std::vector<std::string> names;
  for (const auto& t : src->tensors()) names.push_back(t.name);
  // model_index.json order, then shard order, then data order.
  EXPECT_EQ(names,
            (std::vector<std::string>{"text_encoder.emb", "text_encoder.final", "unet.conv_in.bias",
                                      "unet.conv_in.weight", "vae.decoder.conv_out.weight"}));
  ASSERT_EQ(src->files().size(), 4u);
  EXPECT_EQ(src->find("text_encoder.final")->file_index, 1u);
  EXPECT_EQ(src->find("vae.decoder.conv_out.weight")->file_index, 3u);
  EXPECT_EQ(first_value(*src, "unet.conv_in.weight"), 1.0f);
  EXPECT_EQ(first_value(*src, "unet.conv_in.bias"), 2.0f);
  EXPECT_EQ(first_value(*src, "text_encoder.final"), 30.0f);
  EXPECT_EQ(first_value(*src, "vae.decoder.conv_out.weight"), 10.0f);
  EXPECT_EQ(src->find("conv_in.weight"), nullptr);
  // The model_index.json path itself opens the pipeline too.
  auto again = open_tensor_source((p.dir / "model_index.json").string());
  EXPECT_EQ(again->tensors().size(), 5u);
}

TEST(DiffusersFolder, ComponentFolderOpensUnprefixed) {
  Pipeline p;
  auto unet = open_tensor_source((p.dir / "unet").string());
  ASSERT_EQ(unet->tensors().size(), 2u);
  EXPECT_NE(unet->find("conv_in.weight"), nullptr);
  auto te = open_tensor_source((p.dir / "text_encoder").string());
  EXPECT_EQ(te->files().size(), 2u);
  EXPECT_EQ(first_value(*te, "emb"), 20.0f);
}

TEST(DiffusersFolder, WeightFileChoice) {
  TempDir dir;
  // Only a variant file: the folder's one safetensors file is used.
  write_f32_file(dir / "diffusion_pytorch_model.fp16.safetensors", {"v"}, 5);
  auto w = find_folder_weights(dir.path().string());
  EXPECT_EQ(w.kind, FolderWeights::Kind::Single);
  EXPECT_EQ(fs::path(w.path).filename(), "diffusion_pytorch_model.fp16.safetensors");
  // A second candidate makes the folder ambiguous, until a standard name settles it.
  write_f32_file(dir / "other.safetensors", {"o"}, 6);
  EXPECT_EQ(error_class(dir.path()), "ambiguous_folder");
  write_f32_file(dir / "diffusion_pytorch_model.safetensors", {"d"}, 7);
  auto src = open_tensor_source(dir.path().string());
  EXPECT_NE(src->find("d"), nullptr);
  // A standard single file wins over a standard index.
  write_file(dir / "diffusion_pytorch_model.safetensors.index.json", std::string("{"));
  EXPECT_EQ(find_folder_weights(dir.path().string()).kind, FolderWeights::Kind::Single);
}

TEST(DiffusersFolder, Errors) {
  std::string msg;
  {
    TempDir dir;  // an empty folder
    EXPECT_EQ(error_class(dir.path()), "unknown_format");
  }
  {
    TempDir dir;  // only pickles
    write_file(dir / "diffusion_pytorch_model.bin", std::string("PK"));
    EXPECT_THROW(open_tensor_source(dir.path().string()), UnsupportedError);
  }
  {
    Pipeline p;  // components listed, none with weights
    write_file(p.dir / "model_index.json",
               std::string(R"({"scheduler":["diffusers","X"],"tokenizer":["t","Y"]})"));
    EXPECT_EQ(error_class(p.dir.path(), &msg), "no_weights");
    EXPECT_NE(msg.find("scheduler, tokenizer"), std::string::npos) << msg;
  }
  {
    Pipeline p;
    write_file(p.dir / "model_index.json", std::string(R"({"unet":["a","b"],"unet":["a","b"]})"));
    EXPECT_EQ(error_class(p.dir.path()), "duplicate_key");
    write_file(p.dir / "model_index.json", std::string(R"(["unet"])"));
    EXPECT_EQ(error_class(p.dir.path()), "bad_index");
    write_file(p.dir / "model_index.json", std::string(R"({"..":["a","b"]})"));
    EXPECT_EQ(error_class(p.dir.path()), "bad_index");
    write_file(p.dir / "model_index.json", std::string("{,}"));
    EXPECT_EQ(error_class(p.dir.path()), "bad_json");
  }
  {
    Pipeline p;  // a component's shard index names a tensor its shard lacks
    write_file(p.dir / "text_encoder" / "model.safetensors.index.json",
               std::string(R"({"weight_map":{"emb":"model-00001-of-00002.safetensors",)"
                           R"("lost":"model-00001-of-00002.safetensors",)"
                           R"("final":"model-00002-of-00002.safetensors"}})"));
    EXPECT_EQ(error_class(p.dir.path(), &msg), "index_mismatch");
    EXPECT_NE(msg.find("\"lost\""), std::string::npos) << msg;
  }
  {
    Pipeline p;  // a component's shard is missing
    fs::remove(p.dir / "text_encoder" / "model-00002-of-00002.safetensors");
    EXPECT_EQ(error_class(p.dir.path()), "missing_shard");
  }
  {
    Pipeline p;  // a damaged component file
    write_file(p.dir / "vae" / "diffusion_pytorch_model.safetensors", std::string("\x01"));
    EXPECT_EQ(error_class(p.dir.path()), "header_too_small");
  }
}

TEST(FolderDispatch, FilesAreRecognisedByContent) {
  TempDir dir;
  std::string msg;
  // A safetensors file under any name.
  write_f32_file(dir / "weights.bin", {"w"}, 3);
  auto st = open_tensor_source((dir / "weights.bin").string());
  EXPECT_EQ(st->format(), FileFormat::Safetensors);
  EXPECT_EQ(first_value(*st, "w"), 3.0f);
  // Neither format.
  write_file(dir / "notes.txt", std::string("hello, this is not a tensor file"));
  EXPECT_EQ(error_class(dir / "notes.txt", &msg), "unknown_format");
  write_file(dir / "config.json", std::string(R"({"abcdef":1})"));  // '"' at byte 8, but text
  EXPECT_EQ(error_class(dir / "config.json"), "unknown_format");
  write_file(dir / "tiny", std::string("abc"));
  EXPECT_EQ(error_class(dir / "tiny"), "unknown_format");
  // A damaged file named .safetensors gets the safetensors reader's verdict.
  write_file(dir / "tiny.safetensors", std::string("abc"));
  EXPECT_EQ(error_class(dir / "tiny.safetensors"), "header_too_small");
  // The "GGUF" magic goes to the GGUF reader, whatever the name.
  write_file(dir / "model.safetensors", std::string("GGUF\x03\0\0\0", 8));
  std::string c = error_class(dir / "model.safetensors", &msg);
  EXPECT_NE(c, "");
  EXPECT_NE(c, "unknown_format");
  EXPECT_NE(c, "header_too_large");
  EXPECT_EQ(msg.find("header length"), std::string::npos) << msg;
}

}  // namespace
}  // namespace lorakit::io
