// Sharded safetensors checkpoints (`*.safetensors.index.json` + shard files): one source over all
// the shards, and clear errors when the index and the shards disagree.
#include "io/safetensors_sharded.hpp"

#include <gtest/gtest.h>

#include <filesystem>

#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

namespace fs = std::filesystem;
using lorakit::testing::TempDir;

// Writes a safetensors file of U8 tensors; tensor i holds (size_i) bytes of value `fill + i`.
void write_u8_file(const fs::path& p, const std::vector<std::pair<std::string, uint64_t>>& tensors,
                   uint8_t fill = 1) {
  std::vector<TensorDecl> decls;
  for (const auto& [name, n] : tensors) decls.push_back({name, DType::U8, {n}});
  SafetensorsWriter w(p.string(), decls);
  uint8_t v = fill;
  for (const auto& [name, n] : tensors) {
    std::vector<std::byte> bytes(n, std::byte{v++});
    w.write(name, bytes);
  }
  w.commit();
}

struct Sharded {
  TempDir dir;
  fs::path index = dir / "model.safetensors.index.json";
  std::string shard1 = "model-00001-of-00002.safetensors";
  std::string shard2 = "model-00002-of-00002.safetensors";
  Sharded() {
    write_u8_file(dir / shard1, {{"a", 2}, {"b", 3}}, 10);
    write_u8_file(dir / shard2, {{"c", 4}}, 20);
  }
  void write_index(const std::string& weight_map) {
    lorakit::testing::write_file(
        index, R"({"metadata":{"total_size":9},"weight_map":{)" + weight_map + "}}");
  }
  void write_good_index() {
    write_index(R"("c":")" + shard2 + R"(","a":")" + shard1 + R"(","b":")" + shard1 + R"(")");
  }
  std::string error_class(std::string* message = nullptr, std::string* file = nullptr) {
    try {
      open_tensor_source(index.string());
      return "";
    } catch (const FormatError& e) {
      if (message) *message = e.message();
      if (file) *file = e.file();
      return e.category();
    }
  }
};

TEST(SafetensorsSharded, OpensAllShardsAsOneSource) {
  Sharded s;
  s.write_good_index();
  for (int via_dispatch = 0; via_dispatch < 2; ++via_dispatch) {
    auto src = via_dispatch ? open_tensor_source(s.index.string())
                            : open_sharded_safetensors(s.index.string());
    EXPECT_EQ(src->path(), s.index.string());
    EXPECT_EQ(src->format(), FileFormat::Safetensors);
    ASSERT_EQ(src->files().size(), 2u);
    EXPECT_EQ(src->files()[0]->path(), (s.dir / s.shard1).string());
    ASSERT_EQ(src->tensors().size(), 3u);
    // Shards in file-name order, each in data order.
    EXPECT_EQ(src->tensors()[0].name, "a");
    EXPECT_EQ(src->tensors()[1].name, "b");
    EXPECT_EQ(src->tensors()[2].name, "c");
    EXPECT_EQ(src->find("b")->file_index, 0u);
    EXPECT_EQ(src->find("c")->file_index, 1u);
    TensorView v = src->view("c");
    ASSERT_EQ(v.bytes.size(), 4u);
    EXPECT_EQ(v.bytes[0], std::byte{20});
    EXPECT_EQ(src->view("b").bytes[2], std::byte{11});
    EXPECT_EQ(v.bytes.data(), src->files()[1]->bytes().data() + src->find("c")->file_offset);
    ASSERT_EQ(src->metadata().size(), 1u);  // both shards say {"format":"pt"}; kept once
    EXPECT_EQ(src->metadata()[0].key, "format");
  }
  // A folder holding the index (and its shards) opens the same way.
  auto folder = open_tensor_source(s.dir.path().string());
  EXPECT_EQ(folder->tensors().size(), 3u);
  EXPECT_EQ(folder->path(), s.dir.path().string());
}

TEST(SafetensorsSharded, DisagreementsAreErrors) {
  std::string msg, file;
  {
    Sharded s;  // a shard the index names is missing
    s.write_index(R"("a":")" + s.shard1 + R"(","b":")" + s.shard1 +
                  R"(","c":"model-00003-of-00002.safetensors")");
    EXPECT_EQ(s.error_class(&msg, &file), "missing_shard");
    EXPECT_EQ(file, s.index.string());
    EXPECT_NE(msg.find("\"c\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("model-00003-of-00002.safetensors"), std::string::npos) << msg;
  }
  {
    Sharded s;  // the index names a tensor its shard does not hold
    s.write_index(R"("a":")" + s.shard1 + R"(","b":")" + s.shard1 + R"(","c":")" + s.shard2 +
                  R"(","ghost":")" + s.shard2 + R"(")");
    EXPECT_EQ(s.error_class(&msg), "index_mismatch");
    EXPECT_NE(msg.find("\"ghost\""), std::string::npos) << msg;
    EXPECT_NE(msg.find("does not hold it"), std::string::npos) << msg;
  }
  {
    Sharded s;  // a shard holds a tensor the index does not list
    s.write_index(R"("a":")" + s.shard1 + R"(","c":")" + s.shard2 + R"(")");
    EXPECT_EQ(s.error_class(&msg), "index_mismatch");
    EXPECT_NE(msg.find("holds tensor \"b\", which \"weight_map\" does not list"), std::string::npos)
        << msg;
  }
  {
    Sharded s;  // the index puts a tensor in the wrong shard
    s.write_index(R"("a":")" + s.shard1 + R"(","b":")" + s.shard2 + R"(","c":")" + s.shard2 +
                  R"(")");
    EXPECT_EQ(s.error_class(&msg), "index_mismatch");
    EXPECT_NE(msg.find("assigns to shard"), std::string::npos) << msg;
  }
  {
    Sharded s;  // two shards hold the same name
    write_u8_file(s.dir / s.shard2, {{"c", 4}, {"a", 1}});
    s.write_good_index();
    EXPECT_EQ(s.error_class(&msg), "index_mismatch");
  }
  {
    Sharded s;  // a damaged shard reports its own error, with its own path
    lorakit::testing::write_file(s.dir / s.shard2, std::string("\x03\0\0\0\0\0\0\0{}", 10));
    s.write_good_index();
    EXPECT_EQ(s.error_class(&msg, &file), "header_past_eof");
    EXPECT_EQ(file, (s.dir / s.shard2).string());
  }
}

TEST(SafetensorsSharded, MalformedIndex) {
  Sharded s;
  auto with = [&](const std::string& text) {
    lorakit::testing::write_file(s.index, text);
    return s.error_class();
  };
  EXPECT_EQ(with("{"), "bad_json");
  EXPECT_EQ(with("[]"), "bad_index");
  EXPECT_EQ(with(R"({"metadata":{}})"), "bad_index");
  EXPECT_EQ(with(R"({"weight_map":[]})"), "bad_index");
  EXPECT_EQ(with(R"({"weight_map":{}})"), "bad_index");
  EXPECT_EQ(with(R"({"weight_map":{"a":1}})"), "bad_index");
  EXPECT_EQ(with(R"({"weight_map":{"a":"../model-00001-of-00002.safetensors"}})"), "bad_index");
  EXPECT_EQ(with(R"({"weight_map":{"a":"/etc/passwd"}})"), "bad_index");
  EXPECT_EQ(with(R"({"weight_map":{"a":"x","a":"x"}})"), "duplicate_key");
  EXPECT_EQ(with(R"({"weight_map":{},"weight_map":{}})"), "duplicate_key");
  EXPECT_EQ(with("\xEF\xBB\xBF{}"), "bad_json");
  EXPECT_EQ(with("{\"weight_map\":{\"\xff\":\"x\"}}"), "bad_utf8");
  EXPECT_EQ(with(R"({"weight_map":{"a":"x"}} // note)"), "bad_json");
}

}  // namespace
}  // namespace lorakit::io
