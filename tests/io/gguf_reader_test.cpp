// GGUF reader: the shared corpus (verdict and error class of every case), the content of the sample
// files, and hostile headers assembled byte by byte.
#include "io/gguf_reader.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

using lorakit::testing::read_file;
using lorakit::testing::read_tsv;
using lorakit::testing::TempDir;
using lorakit::testing::testdata;
using lorakit::testing::write_file;

std::string gguf_path(const std::string& name) { return testdata("gguf/" + name).string(); }

// The FormatError an open raises, or a failure when it opens.
FormatError open_error(const std::string& path) {
  try {
    open_gguf(path);
  } catch (const FormatError& e) {
    return e;
  }
  ADD_FAILURE() << path << ": opened, expected a FormatError";
  return FormatError(path, "", "");
}

// ---- corpus
// --------------------------------------------------------------------------------------

TEST(GgufCorpus, EveryCaseGetsItsVerdictAndErrorClass) {
  auto rows = read_tsv(testdata("gguf/cases.tsv"));
  ASSERT_EQ(rows.size(), 46u);
  int accepted = 0, rejected = 0;
  for (const auto& row : rows) {
    ASSERT_GE(row.size(), 3u);
    const std::string& file = row[0];
    const std::string& expect = row[1];
    const std::string& error_class = row[2];
    SCOPED_TRACE(file);
    std::string path = gguf_path(file);
    if (expect == "accept") {
      ++accepted;
      EXPECT_NO_THROW({
        auto src = open_gguf(path);
        EXPECT_EQ(src->format(), FileFormat::Gguf);
        EXPECT_EQ(src->path(), path);
        // Every view lies inside the mapping.
        for (const auto& t : src->tensors()) {
          auto v = src->view(t);
          EXPECT_EQ(v.bytes.size(), t.nbytes);
          EXPECT_LE(t.file_offset + t.nbytes, src->files()[0]->size());
        }
      });
    } else {
      ASSERT_EQ(expect, "reject");
      ++rejected;
      FormatError e = open_error(path);
      EXPECT_EQ(e.category(), error_class) << e.what();
      EXPECT_EQ(e.file(), path);
      // Messages say where: a byte offset, in every rejection.
      EXPECT_NE(e.message().find("byte"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(accepted, 15);
  EXPECT_EQ(rejected, 31);
}

TEST(GgufCorpus, MessagesNameTheKeyOrTensor) {
  EXPECT_NE(open_error(gguf_path("bad_dup_key.gguf")).message().find("general.architecture"),
            std::string::npos);
  EXPECT_NE(open_error(gguf_path("bad_dup_tensor_name.gguf")).message().find("'w'"),
            std::string::npos);
  EXPECT_NE(open_error(gguf_path("bad_bool_value_2.gguf")).message().find("a.flag"),
            std::string::npos);
  auto big_endian = open_error(gguf_path("bad_big_endian_version.gguf"));
  EXPECT_NE(big_endian.message().find("big-endian"), std::string::npos) << big_endian.what();
  auto row = open_error(gguf_path("bad_row_not_multiple_of_block.gguf"));
  EXPECT_NE(row.message().find("32"), std::string::npos) << row.what();
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  float v;
  if (exp == 0)
    v = std::ldexp(static_cast<float>(mant), -24);
  else if (exp == 31)
    v = mant ? NAN : INFINITY;
  else
    v = std::ldexp(static_cast<float>(mant | 0x400), static_cast<int>(exp) - 25);
  return sign ? -v : v;
}

template <typename T>
std::vector<T> as(std::span<const std::byte> b) {
  std::vector<T> out(b.size() / sizeof(T));
  std::memcpy(out.data(), b.data(), out.size() * sizeof(T));
  return out;
}

TEST(GgufCorpus, FluxSampleContent) {
  std::string path = gguf_path("ok_flux_f32_f16_q8_q4k.gguf");
  auto src = open_gguf(path);
  struct Want {
    const char* name;
    DType dtype;
    std::vector<uint64_t> shape;
    uint64_t nbytes;
  } want[] = {
      {"double_blocks.0.img_attn.proj.weight", DType::F32, {4, 256}, 4096},
      {"x.f16", DType::F16, {4, 256}, 2048},
      {"x.q8_0", DType::Q8_0, {4, 256}, 4 * 8 * 34},
      {"x.bf16", DType::BF16, {4, 256}, 2048},
      {"x.q4_k_from_random_bytes", DType::Q4_K, {4, 256}, 4 * 144},
      {"bias_1d", DType::F32, {7}, 28},
      {"conv_4d", DType::F32, {2, 3, 3, 3}, 216},
  };
  const auto& ts = src->tensors();
  ASSERT_EQ(ts.size(), std::size(want));
  auto file = read_file(path);
  uint64_t expected_offset = 512;  // data_start: the 491-byte header padded to 32
  for (size_t i = 0; i < ts.size(); ++i) {
    SCOPED_TRACE(want[i].name);
    EXPECT_EQ(ts[i].name, want[i].name);
    EXPECT_EQ(ts[i].dtype, want[i].dtype);
    EXPECT_EQ(ts[i].shape, want[i].shape);
    EXPECT_EQ(ts[i].storage_shape, want[i].shape);
    EXPECT_EQ(ts[i].nbytes, want[i].nbytes);
    EXPECT_EQ(ts[i].file_offset, expected_offset);
    EXPECT_EQ(ts[i].file_index, 0u);
    expected_offset += (want[i].nbytes + 31) / 32 * 32;
    EXPECT_EQ(src->find(want[i].name), &ts[i]);
    auto v = src->view(want[i].name);
    EXPECT_EQ(v.info, &ts[i]);
    // Zero copy: the view is the mapping itself, and holds the file's bytes.
    EXPECT_EQ(v.bytes.data(), src->files()[0]->bytes().data() + ts[i].file_offset);
    ASSERT_TRUE(std::equal(v.bytes.begin(), v.bytes.end(), file.begin() + ts[i].file_offset));
  }
  EXPECT_EQ(expected_offset, file.size());
  EXPECT_EQ(src->find("nope"), nullptr);
  EXPECT_THROW(src->view("nope"), InvalidArgument);

  // The F32 bytes are the array the other copies were made from: F16, BF16 and Q8_0 decode to it.
  auto f32 = as<float>(src->view("double_blocks.0.img_attn.proj.weight").bytes);
  auto f16 = as<uint16_t>(src->view("x.f16").bytes);
  auto bf16 = as<uint16_t>(src->view("x.bf16").bytes);
  auto q8 = src->view("x.q8_0").bytes;
  ASSERT_EQ(f32.size(), 1024u);
  bool any_nonzero = false;
  for (size_t i = 0; i < f32.size(); ++i) {
    ASSERT_TRUE(std::isfinite(f32[i]));
    any_nonzero |= f32[i] != 0;
    EXPECT_NEAR(f16_to_f32(f16[i]), f32[i], std::abs(f32[i]) / 1024 + 1e-7) << i;
    float b = std::bit_cast<float>(static_cast<uint32_t>(bf16[i]) << 16);
    EXPECT_NEAR(b, f32[i], std::abs(f32[i]) / 128 + 1e-30) << i;
    const std::byte* blk = q8.data() + (i / 32) * 34;
    uint16_t d_bits;
    std::memcpy(&d_bits, blk, 2);
    float d = f16_to_f32(d_bits);
    auto q = static_cast<int8_t>(std::to_integer<uint8_t>(blk[2 + i % 32]));
    // Half a step, plus the fp16 rounding of the scale over up to 127 steps.
    EXPECT_NEAR(d * q, f32[i], d * 0.51f + std::abs(f32[i]) / 1024 + 1e-6f) << i;
  }
  EXPECT_TRUE(any_nonzero);

  // Small F32 tensors.
  auto conv = src->view("conv_4d");
  EXPECT_EQ(conv.bytes.size(), 54u * 4);

  // Metadata in file order.
  const auto& md = src->metadata();
  ASSERT_EQ(md.size(), 2u);
  EXPECT_EQ(md[0].key, "general.architecture");
  EXPECT_EQ(md[0].value.type, GgufType::STRING);
  EXPECT_EQ(std::get<std::string>(md[0].value.value), "flux");
  EXPECT_EQ(md[1].key, "general.quantization_version");
  EXPECT_EQ(md[1].value.type, GgufType::U32);
  EXPECT_EQ(std::get<uint64_t>(md[1].value.value), 2u);
}

TEST(GgufCorpus, Comfy5dValues) {
  auto src = open_gguf(gguf_path("ok_comfy_5d_f32.gguf"));
  ASSERT_EQ(src->tensors().size(), 3u);
  EXPECT_EQ(src->tensors()[0].name, "blocks.0.self_attn.q.weight");
  EXPECT_EQ(src->tensors()[0].shape, (std::vector<uint64_t>{4, 32}));
  EXPECT_EQ(src->tensors()[1].name, "patch_embedding.bias");
  const TensorInfo* t = src->find("patch_embedding.weight");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F32);
  EXPECT_EQ(t->shape, (std::vector<uint64_t>{4, 2, 1, 2, 2}));
  EXPECT_EQ(t->storage_shape, t->shape);
  EXPECT_EQ(t->elements, 32u);
  auto values = as<float>(src->view(*t).bytes);
  ASSERT_EQ(values.size(), 32u);
  for (size_t i = 0; i < 32; ++i) EXPECT_EQ(values[i], (static_cast<float>(i) - 16) / 8) << i;
  EXPECT_EQ(std::get<std::string>(src->metadata()[0].value.value), "wan");
}

TEST(GgufCorpus, ComfyOrigShapeIsTheLogicalShape) {
  auto src = open_gguf(gguf_path("ok_comfy_orig_shape.gguf"));
  const TensorInfo* w = src->find("input_blocks.0.0.weight");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->dtype, DType::Q8_0);
  EXPECT_EQ(w->shape, (std::vector<uint64_t>{320, 4, 3, 3}));
  EXPECT_EQ(w->storage_shape, (std::vector<uint64_t>{45, 256}));
  EXPECT_EQ(w->elements, 11520u);
  EXPECT_EQ(w->nbytes, 11520u / 32 * 34);
  const TensorInfo* b = src->find("input_blocks.0.0.bias");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->shape, (std::vector<uint64_t>{320}));
  const auto& md = src->metadata();
  ASSERT_EQ(md.size(), 4u);
  EXPECT_EQ(md[3].key, "comfy.gguf.orig_shape.input_blocks.0.0.weight");
  EXPECT_EQ(md[3].value.type, GgufType::ARRAY);
  EXPECT_EQ(md[3].value.array_type, GgufType::I32);
  EXPECT_EQ(to_string(md[3].value), "[320, 4, 3, 3]");
}

TEST(GgufCorpus, GgufOnlyFacts) {
  auto open = [](const std::string& f) { return GgufSource::open(gguf_path(f)); };
  auto trailing = open("ok_trailing_garbage.gguf");
  EXPECT_EQ(trailing->trailing_bytes(), 4u);
  EXPECT_EQ(open("ok_min_one_tensor.gguf")->trailing_bytes(), 0u);
  EXPECT_EQ(open("ok_v2.gguf")->version(), 2u);
  EXPECT_EQ(open("ok_min_one_tensor.gguf")->version(), 3u);
  auto a64 = open("ok_sdxl_alignment64.gguf");
  EXPECT_EQ(a64->alignment(), 64u);
  EXPECT_EQ(a64->data_start(), 192u);
  EXPECT_EQ(a64->tensors()[1].file_offset, 192u + 4096u);
  auto a1 = open("ok_alignment_1.gguf");
  EXPECT_EQ(a1->alignment(), 1u);
  EXPECT_EQ(a1->data_start(), 90u);
  auto empty = open("ok_empty.gguf");
  EXPECT_TRUE(empty->tensors().empty());
  EXPECT_TRUE(empty->metadata().empty());
  EXPECT_EQ(empty->data_start(), 24u);
  auto zero = open("ok_zero_dim_tensor.gguf");
  EXPECT_EQ(zero->tensors()[0].shape, (std::vector<uint64_t>{4, 0}));
  EXPECT_EQ(zero->tensors()[0].elements, 0u);
  EXPECT_EQ(zero->view("w").bytes.size(), 0u);
  auto long_name = open("ok_comfy_name_127_bytes.gguf");
  EXPECT_EQ(long_name->tensors()[1].name.size(), 127u);
  auto v = open("ok_min_one_tensor.gguf");
  auto w = as<float>(v->view("w").bytes);
  EXPECT_EQ(w, (std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_NE(v->find_metadata("general.architecture"), nullptr);
  EXPECT_EQ(v->find_metadata("general.alignment"), nullptr);
}

// ---- hostile headers built here
// ------------------------------------------------------------------

// A GGUF assembler for hand-made cases.
class Gguf {
 public:
  explicit Gguf(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    bytes += "GGUF";
    u32(version);
    u64(n_tensors);
    u64(n_kv);
  }
  Gguf& u8(uint8_t v) {
    bytes.push_back(static_cast<char>(v));
    return *this;
  }
  Gguf& u32(uint32_t v) {
    for (int k = 0; k < 4; ++k) u8(static_cast<uint8_t>(v >> (8 * k)));
    return *this;
  }
  Gguf& u64(uint64_t v) {
    for (int k = 0; k < 8; ++k) u8(static_cast<uint8_t>(v >> (8 * k)));
    return *this;
  }
  Gguf& str(const std::string& s) {
    u64(s.size());
    bytes += s;
    return *this;
  }
  Gguf& kv_u32(const std::string& key, uint32_t v) { return str(key).u32(4).u32(v); }
  Gguf& kv_str(const std::string& key, const std::string& v) { return str(key).u32(8).str(v); }
  Gguf& info(const std::string& name, const std::vector<uint64_t>& ne, uint32_t type,
             uint64_t offset) {
    str(name).u32(static_cast<uint32_t>(ne.size()));
    for (uint64_t d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Gguf& pad(size_t align = 32, char fill = 0) {
    while (bytes.size() % align) bytes.push_back(fill);
    return *this;
  }
  Gguf& data(size_t n, char fill = 1) {
    bytes.append(n, fill);
    return *this;
  }
  std::string bytes;
};

class GgufHostile : public ::testing::Test {
 protected:
  std::string put(const Gguf& g) {
    std::string p = (dir_ / ("case" + std::to_string(n_++) + ".gguf")).string();
    write_file(p, g.bytes);
    return p;
  }
  std::string reject(const Gguf& g) {
    std::string p = put(g);
    FormatError e = open_error(p);
    EXPECT_NE(e.message().find("byte"), std::string::npos) << e.what();
    return e.category();
  }
  TempDir dir_;
  int n_ = 0;
};

TEST_F(GgufHostile, ShapeProductsThatOverflow) {
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {uint64_t{1} << 31, uint64_t{1} << 31}, 0, 0).pad()),
            "size_overflow");  // 2^62 elements fit, 2^64 bytes do not
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {3, uint64_t{1} << 62}, 0, 0).pad()), "size_overflow");
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {uint64_t{1} << 32, uint64_t{1} << 32}, 0, 0).pad()),
            "size_overflow");  // wraps to exactly 0
  // A zero dimension does not excuse the others from overflowing.
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {uint64_t{1} << 40, uint64_t{1} << 40, 0}, 0, 0).pad()),
            "size_overflow");
  // Elements fit int64, but the byte size does not fit 64 bits (F64), or int64 (Q8_0: 34/32 B).
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {uint64_t{1} << 62}, 28, 0).pad()), "size_overflow");
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {(uint64_t{1} << 63) - 32}, 8, 0).pad()), "size_overflow");
}

TEST_F(GgufHostile, DimensionCounts) {
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {}, 0, 0).pad().data(64)), "bad_dims");
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {1, 1, 1, 1, 1, 8}, 0, 0).pad().data(64)), "bad_dims");
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {8, ~uint64_t{0}}, 0, 0).pad().data(64)), "bad_dims");
  // A huge n_dims is bounded by the bytes left before its value is judged.
  EXPECT_EQ(reject(Gguf(1, 0).str("w").u32(0xFFFFFFFF).u64(8).u32(0).u64(0)), "truncated");
  // Five dimensions are fine.
  std::string ok = put(Gguf(1, 0).info("w", {2, 1, 1, 1, 3}, 0, 0).pad().data(24, 0).pad());
  auto src = open_gguf(ok);
  EXPECT_EQ(src->tensors()[0].shape, (std::vector<uint64_t>{3, 1, 1, 1, 2}));
}

TEST_F(GgufHostile, Names) {
  std::string n4096(4096, 'n'), n4097(4097, 'n');
  EXPECT_EQ(reject(Gguf(1, 0).info(n4097, {8}, 0, 0).pad().data(32)), "bad_name");
  auto src = open_gguf(put(Gguf(1, 0).info(n4096, {8}, 0, 0).pad().data(32, 0)));
  EXPECT_EQ(src->tensors()[0].name, n4096);
  EXPECT_EQ(reject(Gguf(1, 0).info("bad\xff", {8}, 0, 0).pad().data(32)), "bad_utf8");
  EXPECT_EQ(reject(Gguf(1, 0).info("\xc0\x80", {8}, 0, 0).pad().data(32)), "bad_utf8");  // overlong
  EXPECT_EQ(reject(Gguf(0, 1).kv_u32("k\xed\xa0\x80", 1)), "bad_utf8");  // a surrogate
  auto utf8 = open_gguf(
      put(Gguf(1, 1).kv_str("clé", "vàlue").info("é.weight", {8}, 0, 0).pad().data(32, 0)));
  EXPECT_EQ(utf8->tensors()[0].name, "é.weight");
}

TEST_F(GgufHostile, StringsAndArrays) {
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(8).u64(uint64_t{1} << 63).data(8)), "truncated");
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(8).u64(~uint64_t{0})), "truncated");
  EXPECT_EQ(reject(Gguf(0, 1).u64(uint64_t{1} << 63).data(16)), "truncated");  // key length
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(9).u32(13).u64(0)), "bad_value_type");
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(9).u32(8).u64(uint64_t{1} << 40).data(64)),
            "truncated");  // strings take at least 8 bytes each
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(9).u32(7).u64(3).u8(0).u8(1).u8(2)), "bad_bool");
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(7).u8(255)), "bad_bool");
  EXPECT_EQ(reject(Gguf(0, 1).str("k").u32(0xFFFFFFFF)), "bad_value_type");
  EXPECT_EQ(reject(Gguf(0, 2).kv_u32("k", 1).data(4)), "truncated");
  // Counts negative as int64, and counts that cannot fit in what is left.
  EXPECT_EQ(reject(Gguf(0, uint64_t{1} << 63)), "bad_count");
  EXPECT_EQ(reject(Gguf(uint64_t{1} << 62, 0).data(100)), "truncated");
  // An empty array and an empty string are fine.
  auto src = open_gguf(put(Gguf(0, 2).str("a").u32(9).u32(4).u64(0).str("s").u32(8).str("")));
  ASSERT_EQ(src->metadata().size(), 2u);
  EXPECT_EQ(src->metadata()[0].value.array_type, GgufType::U32);
  EXPECT_TRUE(std::get<GgufArray>(src->metadata()[0].value.value).empty());
  EXPECT_EQ(std::get<std::string>(src->metadata()[1].value.value), "");
}

TEST(GgufShortFiles, Prefixes) {
  TempDir dir;
  auto cls = [&](const std::string& bytes) {
    auto p = (dir / "f.gguf").string();
    write_file(p, bytes);
    return open_error(p).category();
  };
  EXPECT_EQ(cls(""), "truncated");
  EXPECT_EQ(cls("GG"), "truncated");
  EXPECT_EQ(cls("XY"), "bad_magic");
  EXPECT_EQ(cls(std::string("GGUF\x03\x00\x00", 7)), "truncated");
  EXPECT_EQ(cls(std::string("GGUF\x03\x00\x00\x00", 8) + std::string(15, '\0')), "truncated");
}

TEST_F(GgufHostile, Types) {
  // Valid ggml types that lorakit cannot decode are still read (decoding is the codec's concern).
  struct {
    uint32_t id;
    DType dtype;
    uint64_t ne0, bytes;
  } types[] = {
      {16, DType::IQ2_XXS, 256, 66}, {34, DType::TQ1_0, 256, 54},  {39, DType::MXFP4, 32, 17},
      {40, DType::NVFP4, 64, 36},    {41, DType::Q1_0, 128, 18},   {42, DType::Q2_0, 64, 18},
      {9, DType::Q8_1, 32, 36},      {15, DType::Q8_K, 256, 292},  {24, DType::I8, 1, 1},
      {25, DType::I16, 1, 2},        {26, DType::I32, 1, 4},       {27, DType::I64, 1, 8},
      {28, DType::F64, 1, 8},        {23, DType::IQ4_XS, 256, 136}};
  for (const auto& t : types) {
    SCOPED_TRACE(t.id);
    auto src = open_gguf(put(Gguf(1, 0).info("w", {t.ne0, 3}, t.id, 0).pad().data(3 * t.bytes)));
    EXPECT_EQ(src->tensors()[0].dtype, t.dtype);
    EXPECT_EQ(src->tensors()[0].nbytes, 3 * t.bytes);
  }
  for (uint32_t removed : {4u, 5u, 31u, 32u, 33u, 36u, 37u, 38u, 43u, 99u, 0xFFFFFFFFu})
    EXPECT_EQ(reject(Gguf(1, 0).info("w", {32}, removed, 0).pad().data(64)), "unknown_type")
        << removed;
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {64}, 41, 0).pad().data(64)), "block_mismatch");  // Q1_0
}

TEST_F(GgufHostile, Layout) {
  // Non-zero bytes in the padding before the data.
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {8}, 0, 0).pad(32, 'x').data(32)), "bad_padding");
  // Data section start past the end, even when every tensor is empty.
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {0}, 0, 0)), "data_truncated");
  // Offsets: unaligned, gap, overlap, past the end.
  EXPECT_EQ(reject(Gguf(2, 0).info("a", {8}, 0, 0).info("b", {8}, 0, 16).pad().data(96)),
            "bad_offsets");
  EXPECT_EQ(reject(Gguf(2, 0).info("a", {8}, 0, 0).info("b", {8}, 0, 64).pad().data(128)),
            "bad_offsets");
  EXPECT_EQ(reject(Gguf(2, 0).info("a", {16}, 0, 0).info("b", {8}, 0, 32).pad().data(128)),
            "bad_offsets");
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {8}, 0, ~uint64_t{0} & ~uint64_t{31}).pad().data(32)),
            "bad_offsets");
  EXPECT_EQ(reject(Gguf(1, 0).info("w", {9}, 0, 0).pad().data(32)), "data_truncated");
  // Padding between tensors that is not zero is only a warning.
  Gguf g(2, 0);
  g.info("a", {7}, 0, 0).info("b", {8}, 0, 32).pad().data(28, 0).data(4, 'z').data(32, 0);
  auto src = GgufSource::open(put(g));
  ASSERT_EQ(src->warnings().size(), 1u);
  EXPECT_NE(src->warnings()[0].find("'a'"), std::string::npos);
}

TEST_F(GgufHostile, Alignment) {
  auto with_alignment = [](uint32_t type, uint64_t value) {
    Gguf g(0, 1);
    g.str("general.alignment").u32(type);
    if (type == 4)
      g.u32(static_cast<uint32_t>(value));
    else if (type == 10)
      g.u64(value);
    else
      g.str("32");
    return g;
  };
  EXPECT_EQ(reject(with_alignment(4, 0)), "bad_alignment");
  EXPECT_EQ(reject(with_alignment(4, 24)), "bad_alignment");
  EXPECT_EQ(reject(with_alignment(10, 32)), "bad_alignment");
  EXPECT_EQ(reject(with_alignment(8, 0)), "bad_alignment");
  for (uint32_t a : {1u, 2u, 4u, 8u, 16u, 4096u}) {
    Gguf g(1, 1);
    g.kv_u32("general.alignment", a).info("w", {8}, 0, 0).pad(a).data(32);
    auto src = GgufSource::open(put(g));
    EXPECT_EQ(src->alignment(), a);
    EXPECT_EQ(src->data_start() % a, 0u);
  }
}

TEST_F(GgufHostile, OrigShape) {
  auto file = [](uint32_t array_type, std::vector<int64_t> dims, uint32_t value_type = 9) {
    Gguf g(1, 1);
    g.str("comfy.gguf.orig_shape.w").u32(value_type);
    if (value_type == 9) {
      g.u32(array_type).u64(dims.size());
      for (int64_t d : dims) {
        if (array_type == 5 || array_type == 4)
          g.u32(static_cast<uint32_t>(d));
        else
          g.u64(static_cast<uint64_t>(d));
      }
    } else {
      g.u32(static_cast<uint32_t>(dims[0]));
    }
    g.info("w", {256, 2}, 0, 0).pad().data(2048, 0);
    return g;
  };
  auto ok = open_gguf(put(file(5, {2, 4, 8, 8})));
  EXPECT_EQ(ok->tensors()[0].shape, (std::vector<uint64_t>{2, 4, 8, 8}));
  EXPECT_EQ(ok->tensors()[0].storage_shape, (std::vector<uint64_t>{2, 256}));
  EXPECT_EQ(reject(file(4, {2, 4, 8, 8})), "bad_orig_shape");   // U32 elements
  EXPECT_EQ(reject(file(11, {2, 4, 8, 8})), "bad_orig_shape");  // I64 elements
  EXPECT_EQ(reject(file(5, {2, 4, 8, 9})), "bad_orig_shape");   // wrong element count
  EXPECT_EQ(reject(file(5, {-2, -4, 8, 8})), "bad_orig_shape");
  EXPECT_EQ(reject(file(5, {512}, 5)), "bad_orig_shape");  // a scalar I32
  // A key for a tensor that does not exist is only metadata.
  Gguf g(0, 1);
  g.str("comfy.gguf.orig_shape.ghost").u32(9).u32(4).u64(1).u32(7);
  EXPECT_NO_THROW(open_gguf(put(g)));
}

TEST_F(GgufHostile, AllValueTypesAreRead) {
  Gguf g(0, 13);
  g.str("u8").u32(0).u8(200);
  g.str("i8").u32(1).u8(0x80);
  g.str("u16").u32(2).u8(0xFF).u8(0xFF);
  g.str("i16").u32(3).u8(0x00).u8(0x80);
  g.str("u32").u32(4).u32(0xFFFFFFFF);
  g.str("i32").u32(5).u32(0x80000000);
  g.str("f32").u32(6).u32(std::bit_cast<uint32_t>(1.5f));
  g.str("bool").u32(7).u8(1);
  g.str("str").u32(8).str("hi");
  g.str("arr").u32(9).u32(1).u64(2).u8(0xFE).u8(0xFF);
  g.str("u64").u32(10).u64(~uint64_t{0});
  g.str("i64").u32(11).u64(uint64_t{1} << 63);
  g.str("f64").u32(12).u64(std::bit_cast<uint64_t>(-0.25));
  auto src = open_gguf(put(g));
  const auto& md = src->metadata();
  ASSERT_EQ(md.size(), 13u);
  EXPECT_EQ(std::get<uint64_t>(md[0].value.value), 200u);
  EXPECT_EQ(std::get<int64_t>(md[1].value.value), -128);
  EXPECT_EQ(std::get<uint64_t>(md[2].value.value), 65535u);
  EXPECT_EQ(std::get<int64_t>(md[3].value.value), -32768);
  EXPECT_EQ(std::get<uint64_t>(md[4].value.value), 0xFFFFFFFFu);
  EXPECT_EQ(std::get<int64_t>(md[5].value.value), INT32_MIN);
  EXPECT_EQ(std::get<double>(md[6].value.value), 1.5);
  EXPECT_EQ(std::get<bool>(md[7].value.value), true);
  EXPECT_EQ(std::get<std::string>(md[8].value.value), "hi");
  EXPECT_EQ(to_string(md[9].value), "[-2, -1]");
  EXPECT_EQ(std::get<uint64_t>(md[10].value.value), ~uint64_t{0});
  EXPECT_EQ(std::get<int64_t>(md[11].value.value), INT64_MIN);
  EXPECT_EQ(std::get<double>(md[12].value.value), -0.25);
  for (size_t i = 0; i < md.size(); ++i) EXPECT_EQ(static_cast<size_t>(md[i].value.type), i);
}

}  // namespace
}  // namespace lorakit::io
