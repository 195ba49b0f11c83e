// decode_factors: factors, bias parts and magnitudes decoded through the adapter's source, with
// hand-written bytes (F32, F16, BF16, a Q8_0 block with a logical shape) and errors that name the
// adapter file and key.
#include <gtest/gtest.h>

#include <cstring>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "patch/record_math.hpp"

namespace lorakit::testing {
namespace {

// A tensor source over one byte buffer; TensorInfo::file_offset indexes the buffer.
class MemSource : public io::TensorSource {
 public:
  void add(std::string name, DType t, std::vector<uint64_t> shape, std::vector<uint8_t> bytes,
           uint64_t elements) {
    io::TensorInfo info;
    info.name = std::move(name);
    info.dtype = t;
    info.shape = shape;
    info.storage_shape = shape;
    info.elements = elements;
    info.nbytes = bytes.size();
    info.file_offset = data_.size();
    for (uint8_t b : bytes) data_.push_back(static_cast<std::byte>(b));
    infos_.push_back(std::move(info));
  }
  const io::TensorInfo& info(size_t i) const { return infos_[i]; }

  const std::string& path() const override { return path_; }
  io::FileFormat format() const override { return io::FileFormat::Safetensors; }
  const std::vector<io::TensorInfo>& tensors() const override { return infos_; }
  const io::TensorInfo* find(std::string_view name) const override {
    for (const auto& t : infos_)
      if (t.name == name) return &t;
    return nullptr;
  }
  io::TensorView view(std::string_view name) const override { return view(*find(name)); }
  io::TensorView view(const io::TensorInfo& info) const override {
    return {&info, std::span<const std::byte>(data_.data() + info.file_offset, info.nbytes)};
  }
  const std::vector<io::MetadataEntry>& metadata() const override { return meta_; }
  std::vector<const io::MappedFile*> files() const override { return {}; }

 private:
  std::string path_ = "mem.safetensors";
  std::vector<io::TensorInfo> infos_;
  std::vector<std::byte> data_;
  std::vector<io::MetadataEntry> meta_;
};

std::vector<uint8_t> f32_bytes(std::initializer_list<float> v) {
  std::vector<uint8_t> out(v.size() * 4);
  std::memcpy(out.data(), std::data(v), out.size());
  return out;
}

TEST(RecordMathDecode, FloatTypesAndQ8_0) {
  auto src = std::make_shared<MemSource>();
  src->add("p.lora_down.weight", DType::F32, {1, 2}, f32_bytes({1.5f, -2.0f}), 2);
  // F16 1.0 = 0x3C00, -0.5 = 0xB800 (little endian).
  src->add("p.lora_up.weight", DType::F16, {2, 1}, {0x00, 0x3C, 0x00, 0xB8}, 2);
  // BF16 2.0 = 0x4000, 0.25 = 0x3E80.
  src->add("p.diff_b", DType::BF16, {2}, {0x00, 0x40, 0x80, 0x3E}, 2);
  // Q8_0: fp16 scale 0.5 (0x3800) + 32 int8 values 0..31, logical shape [2, 16].
  std::vector<uint8_t> q8 = {0x00, 0x38};
  for (int i = 0; i < 32; ++i) q8.push_back(static_cast<uint8_t>(i));
  src->add("p.dora_scale", DType::Q8_0, {2, 16}, q8, 32);

  adapter::Adapter a;
  a.path = "mem.safetensors";
  a.source = src;
  adapter::Module m;
  m.prefix = "p";
  m.factors["down"] = {"p.lora_down.weight", &src->info(0)};
  m.factors["up"] = {"p.lora_up.weight", &src->info(1)};
  m.bias["diff_b"] = {"p.diff_b", &src->info(2)};
  m.dora_scale = adapter::Factor{"p.dora_scale", &src->info(3)};

  const patch::detail::RecordFactors rf = patch::detail::decode_factors(a, m);
  EXPECT_EQ(rf.module, &m);
  EXPECT_EQ(rf.factors.at("down").shape, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(rf.factors.at("down").data, (std::vector<float>{1.5f, -2.0f}));
  EXPECT_EQ(rf.factors.at("up").shape, (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(rf.factors.at("up").data, (std::vector<float>{1.0f, -0.5f}));
  EXPECT_EQ(rf.bias.at("diff_b").data, (std::vector<float>{2.0f, 0.25f}));
  ASSERT_TRUE(rf.dora_scale.has_value());
  EXPECT_EQ(rf.dora_scale->shape, (std::vector<uint64_t>{2, 16}));
  ASSERT_EQ(rf.dora_scale->data.size(), 32u);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(rf.dora_scale->data[i], 0.5f * i) << i;
}

void expect_format_error(const adapter::Adapter& a, const adapter::Module& m,
                         const std::string& key) {
  try {
    patch::detail::decode_factors(a, m);
    FAIL() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), a.path);
    EXPECT_NE(e.message().find(key), std::string::npos) << e.what();
  }
}

TEST(RecordMathDecode, ErrorsNameFileAndKey) {
  auto src = std::make_shared<MemSource>();
  src->add("p.hada_w1_a", DType::C64, {1, 1}, {0, 0, 0, 0, 0, 0, 0, 0}, 1);
  src->add("p.hada_w1_b", DType::F32, {2, 2}, f32_bytes({1, 2, 3}), 4);     // 12 bytes for 16
  src->add("p.hada_w2_a", DType::F32, {2, 2}, f32_bytes({1, 2, 3, 4}), 3);  // count disagrees
  adapter::Adapter a;
  a.path = "bad.safetensors";
  a.source = src;
  ASSERT_FALSE(codec::can_decode(DType::C64));
  for (size_t i = 0; i < 3; ++i) {
    adapter::Module m;
    m.prefix = "p";
    m.kind = adapter::Kind::LoHa;
    m.factors["w1a"] = {src->info(i).name, &src->info(i)};
    expect_format_error(a, m, src->info(i).name);
  }
  adapter::Module none;
  none.factors["w1a"] = {"p.missing", nullptr};
  expect_format_error(a, none, "p.missing");
}

}  // namespace
}  // namespace lorakit::testing
