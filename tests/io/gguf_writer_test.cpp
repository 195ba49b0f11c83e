// GGUF writer: round trips through the reader, byte-identical re-writes of the corpus, layout rules
// (alignment, added keys, names) and the atomic-file guarantees (errors, destruction, SIGKILL).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bit>
#include <cmath>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "io/gguf_reader.hpp"
#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

namespace fs = std::filesystem;
using lorakit::testing::read_file;
using lorakit::testing::TempDir;
using lorakit::testing::testdata;
using lorakit::testing::write_file;

GgufValue val(GgufType t, std::variant<uint64_t, int64_t, double, bool, std::string, GgufArray> v) {
  GgufValue out;
  out.type = t;
  out.value = std::move(v);
  return out;
}
GgufValue arr(GgufType et, std::vector<GgufValue> items) {
  GgufValue out;
  out.type = GgufType::ARRAY;
  out.array_type = et;
  out.value = GgufArray(std::move(items));
  return out;
}
GgufValue u32(uint32_t v) { return val(GgufType::U32, uint64_t{v}); }

bool same(const GgufValue& a, const GgufValue& b) {
  if (a.type != b.type || a.value.index() != b.value.index()) return false;
  if (a.type == GgufType::ARRAY) {
    if (a.array_type != b.array_type) return false;
    const auto& x = std::get<GgufArray>(a.value);
    const auto& y = std::get<GgufArray>(b.value);
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i)
      if (!same(x[i], y[i])) return false;
    return true;
  }
  if (const auto* d = std::get_if<double>(&a.value)) {
    double e = std::get<double>(b.value);
    if (a.type == GgufType::F32)
      return std::bit_cast<uint32_t>(static_cast<float>(*d)) ==
             std::bit_cast<uint32_t>(static_cast<float>(e));
    return std::bit_cast<uint64_t>(*d) == std::bit_cast<uint64_t>(e);
  }
  if (const auto* u = std::get_if<uint64_t>(&a.value)) return *u == std::get<uint64_t>(b.value);
  if (const auto* i = std::get_if<int64_t>(&a.value)) return *i == std::get<int64_t>(b.value);
  if (const auto* x = std::get_if<bool>(&a.value)) return *x == std::get<bool>(b.value);
  return std::get<std::string>(a.value) == std::get<std::string>(b.value);
}

void expect_same_metadata(const std::vector<MetadataEntry>& got,
                          const std::vector<MetadataEntry>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].key, want[i].key);
    EXPECT_TRUE(same(got[i].value, want[i].value))
        << want[i].key << ": got " << to_string(got[i].value) << ", want "
        << to_string(want[i].value);
  }
}

std::vector<std::byte> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::byte> out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng() & 0xFF);
  return out;
}

// Every file in the folder, hidden ones (the writer's temporary files) included.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<TensorDecl> decls_of(const TensorSource& src) {
  std::vector<TensorDecl> out;
  for (const auto& t : src.tensors()) out.push_back(TensorDecl{t.name, t.dtype, t.storage_shape});
  return out;
}

// Writes what `src` holds to `out` with the writer and returns the bytes.
std::vector<std::byte> rewrite(const GgufSource& src, const fs::path& out) {
  GgufWriter w(out.string(), src.metadata(), decls_of(src), src.alignment());
  for (const auto& t : src.tensors()) w.write(t.name, src.view(t).bytes);
  w.commit();
  return read_file(out);
}

// ---- round trips
// ---------------------------------------------------------------------------------

std::vector<MetadataEntry> every_value_type() {
  using T = GgufType;
  std::vector<MetadataEntry> kv = {
      {"general.architecture", val(T::STRING, std::string("flux"))},
      {"u8", val(T::U8, uint64_t{255})},
      {"i8", val(T::I8, int64_t{-128})},
      {"u16", val(T::U16, uint64_t{65535})},
      {"i16", val(T::I16, int64_t{-32768})},
      {"u32", val(T::U32, uint64_t{0xFFFFFFFF})},
      {"i32", val(T::I32, int64_t{std::numeric_limits<int32_t>::min()})},
      {"f32", val(T::F32, 0.1f)},
      {"f32.inf", val(T::F32, -INFINITY)},
      {"bool.true", val(T::BOOL, true)},
      {"bool.false", val(T::BOOL, false)},
      {"string", val(T::STRING, std::string("h\xc3\xa9llo \"world\"\n"))},
      {"string.empty", val(T::STRING, std::string())},
      {"u64", val(T::U64, std::numeric_limits<uint64_t>::max())},
      {"i64", val(T::I64, std::numeric_limits<int64_t>::min())},
      {"f64", val(T::F64, 3.141592653589793)},
      {"f64.nan", val(T::F64, std::numeric_limits<double>::quiet_NaN())},
      {"f64.neg_zero", val(T::F64, -0.0)},
      {"arr.u8", arr(T::U8, {val(T::U8, uint64_t{0}), val(T::U8, uint64_t{255})})},
      {"arr.i8", arr(T::I8, {val(T::I8, int64_t{-1}), val(T::I8, int64_t{127})})},
      {"arr.u16", arr(T::U16, {val(T::U16, uint64_t{7})})},
      {"arr.i16", arr(T::I16, {val(T::I16, int64_t{-7}), val(T::I16, int64_t{300})})},
      {"arr.u32", arr(T::U32, {u32(1), u32(2), u32(3)})},
      {"arr.i32", arr(T::I32, {val(T::I32, int64_t{320}), val(T::I32, int64_t{-4})})},
      {"arr.f32", arr(T::F32, {val(T::F32, 0.5), val(T::F32, 1e-3f)})},
      {"arr.bool", arr(T::BOOL, {val(T::BOOL, true), val(T::BOOL, false)})},
      {"arr.string",
       arr(T::STRING, {val(T::STRING, std::string("a")), val(T::STRING, std::string()),
                       val(T::STRING, std::string("\xe2\x82\xac"))})},
      {"arr.u64", arr(T::U64, {val(T::U64, uint64_t{1} << 40)})},
      {"arr.i64", arr(T::I64, {val(T::I64, int64_t{-1} << 40)})},
      {"arr.f64", arr(T::F64, {val(T::F64, 2.5), val(T::F64, -1e300)})},
      {"arr.empty", arr(T::F64, {})},
  };
  return kv;
}

TEST(GgufWriter, EveryValueTypeRoundTrips) {
  TempDir dir;
  auto kv = every_value_type();
  for (bool with_tensor : {false, true}) {
    SCOPED_TRACE(with_tensor);
    fs::path out = dir / (with_tensor ? "t.gguf" : "kv.gguf");
    std::vector<TensorDecl> decls;
    if (with_tensor) decls.push_back({"w", DType::F32, {2}});
    GgufWriter w(out.string(), kv, decls);
    if (with_tensor) w.write("w", random_bytes(8, 1));
    w.commit();
    auto src = GgufSource::open(out.string());
    expect_same_metadata(src->metadata(), kv);  // nothing added: no quantized tensor, alignment 32
    EXPECT_EQ(src->version(), 3u);
    // And a re-write of what was read is the same file.
    EXPECT_EQ(rewrite(*src, dir / "again.gguf"), read_file(out));
  }
}

TEST(GgufWriter, TensorsRoundTripByteForByte) {
  TempDir dir;
  std::vector<TensorDecl> decls = {
      {"f32", DType::F32, {3, 7}},
      {"f16", DType::F16, {2, 3, 5}},
      {"bf16", DType::BF16, {9}},
      {"q8_0", DType::Q8_0, {3, 64}},
      {"q4_k", DType::Q4_K, {2, 512}},
      {"f64", DType::F64, {5}},
      {"i8", DType::I8, {33}},
      {"i16", DType::I16, {4, 4}},
      {"i32", DType::I32, {1, 1, 3}},
      {"i64", DType::I64, {2}},
      {"conv3d", DType::F32, {2, 1, 1, 2, 3}},
      {"empty", DType::F32, {0, 4}},
  };
  std::vector<MetadataEntry> kv = {
      {"general.architecture", val(GgufType::STRING, std::string("x"))}};
  std::vector<std::vector<std::byte>> data;
  fs::path out = dir / "t.gguf";
  {
    GgufWriter w(out.string(), kv, decls);
    EXPECT_TRUE(w.warnings().empty());
    for (size_t i = 0; i < decls.size(); ++i) {
      uint64_t elements = 1;
      for (auto d : decls[i].shape) elements *= d;
      data.push_back(random_bytes(*bytes_for(decls[i].dtype, elements), static_cast<uint32_t>(i)));
    }
    // Back to front, in uneven chunks.
    for (size_t i = decls.size(); i-- > 0;) {
      const auto& b = data[i];
      for (size_t off = 0; off < b.size(); off += 13)
        w.write(decls[i].name, std::span(b).subspan(off, std::min<size_t>(13, b.size() - off)),
                off);
    }
    w.commit();
  }
  auto src = GgufSource::open(out.string());
  ASSERT_EQ(src->tensors().size(), decls.size());
  uint64_t expect_offset = src->data_start();
  EXPECT_EQ(src->data_start() % 32, 0u);
  for (size_t i = 0; i < decls.size(); ++i) {
    const auto& t = src->tensors()[i];
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.name, decls[i].name);
    EXPECT_EQ(t.dtype, decls[i].dtype);
    EXPECT_EQ(t.shape, decls[i].shape);
    EXPECT_EQ(t.storage_shape, decls[i].shape);
    EXPECT_EQ(t.file_offset, expect_offset);  // contiguous, in declaration order
    expect_offset += (t.nbytes + 31) / 32 * 32;
    auto v = src->view(t);
    EXPECT_TRUE(std::equal(v.bytes.begin(), v.bytes.end(), data[i].begin(), data[i].end()));
  }
  EXPECT_EQ(expect_offset, src->files()[0]->size());  // the last tensor is padded too
  // general.quantization_version = 2 was added after the given keys.
  ASSERT_EQ(src->metadata().size(), 2u);
  EXPECT_EQ(src->metadata()[1].key, "general.quantization_version");
  EXPECT_TRUE(same(src->metadata()[1].value, u32(2)));
  EXPECT_EQ(src->find_metadata("general.alignment"), nullptr);
  // Zero padding everywhere: re-writing gives the same bytes.
  EXPECT_EQ(rewrite(*src, dir / "again.gguf"), read_file(out));
}

// Corpus files that follow the writer's rules (version 3, contiguous zero-padded layout, the last
// tensor padded, general.alignment present exactly when needed, quantization_version when
// quantized). ok_trailing_garbage and ok_v2 differ in one respect each and are checked below.
TEST(GgufWriter, RewritingCorpusFilesReproducesThem) {
  TempDir dir;
  for (const char* name :
       {"ok_alignment_1.gguf", "ok_comfy_5d_f32.gguf", "ok_comfy_name_127_bytes.gguf",
        "ok_comfy_orig_shape.gguf", "ok_empty.gguf", "ok_flux_f32_f16_q8_q4k.gguf",
        "ok_min_one_tensor.gguf", "ok_n_dims_5.gguf", "ok_name_63_bytes.gguf",
        "ok_name_64_bytes.gguf", "ok_no_padding_before_data_when_no_tensors.gguf",
        "ok_sdxl_alignment64.gguf", "ok_zero_dim_tensor.gguf"}) {
    SCOPED_TRACE(name);
    auto path = testdata(std::string("gguf/") + name);
    auto src = GgufSource::open(path.string());
    EXPECT_EQ(rewrite(*src, dir / name), read_file(path));
  }
  // Trailing bytes are not data: the re-write is the file without them.
  auto trailing = testdata("gguf/ok_trailing_garbage.gguf");
  auto bytes = read_file(trailing);
  bytes.resize(bytes.size() - 4);
  EXPECT_EQ(rewrite(*GgufSource::open(trailing.string()), dir / "t.gguf"), bytes);
  // Version 2 is read and written as version 3.
  auto v2 = testdata("gguf/ok_v2.gguf");
  bytes = read_file(v2);
  bytes[4] = std::byte{3};
  EXPECT_EQ(rewrite(*GgufSource::open(v2.string()), dir / "v2.gguf"), bytes);
}

// ---- layout rules
// --------------------------------------------------------------------------------

TEST(GgufWriter, Alignment64And1) {
  TempDir dir;
  std::vector<TensorDecl> decls = {{"a", DType::F32, {7}}, {"b", DType::F16, {3}}};
  for (uint32_t alignment : {64u, 1u, 32u}) {
    SCOPED_TRACE(alignment);
    fs::path out = dir / ("a" + std::to_string(alignment) + ".gguf");
    GgufWriter w(out.string(),
                 {{"general.architecture", val(GgufType::STRING, std::string("sdxl"))}}, decls,
                 alignment);
    w.write("a", random_bytes(28, 1));
    w.write("b", random_bytes(6, 2));
    w.commit();
    auto src = GgufSource::open(out.string());
    EXPECT_EQ(src->alignment(), alignment);
    EXPECT_EQ(src->data_start() % alignment, 0u);
    const auto* key = src->find_metadata("general.alignment");
    if (alignment == 32) {
      EXPECT_EQ(key, nullptr);
    } else {
      ASSERT_NE(key, nullptr);
      EXPECT_TRUE(same(*key, u32(alignment)));
      EXPECT_EQ(src->metadata().back().key, "general.alignment");  // appended after the given keys
    }
    EXPECT_EQ(src->tensors()[1].file_offset - src->tensors()[0].file_offset,
              (28 + alignment - 1) / alignment * alignment);
    EXPECT_EQ(src->files()[0]->size(),
              src->tensors()[1].file_offset + (6 + alignment - 1) / alignment * alignment);
    EXPECT_EQ(rewrite(*src, dir / "again.gguf"), read_file(out));
  }
}

TEST(GgufWriter, AlignmentKeyMustAgree) {
  TempDir dir;
  std::string out = (dir / "o.gguf").string();
  std::vector<TensorDecl> decls = {{"a", DType::F32, {8}}};
  // Given as a key and agreeing: kept where it was given, not written twice.
  {
    GgufWriter w(out, {{"general.alignment", u32(64)}, {"x", u32(1)}}, decls, 64);
    w.write("a", random_bytes(32, 3));
    w.commit();
    auto src = GgufSource::open(out);
    ASSERT_EQ(src->metadata().size(), 2u);
    EXPECT_EQ(src->metadata()[0].key, "general.alignment");
    EXPECT_EQ(src->alignment(), 64u);
  }
  EXPECT_THROW(GgufWriter(out, {{"general.alignment", u32(64)}}, decls), InvalidArgument);
  EXPECT_THROW(
      GgufWriter(out, {{"general.alignment", val(GgufType::U64, uint64_t{64})}}, decls, 64),
      InvalidArgument);
  EXPECT_THROW(GgufWriter(out, {}, decls, 48), InvalidArgument);
  EXPECT_THROW(GgufWriter(out, {}, decls, 0), InvalidArgument);
}

TEST(GgufWriter, QuantizationVersion) {
  TempDir dir;
  std::string out = (dir / "o.gguf").string();
  auto keys = [&](std::vector<MetadataEntry> kv, DType t) {
    GgufWriter w(out, std::move(kv), {{"a", t, {32}}});
    w.write("a", random_bytes(*bytes_for(t, 32), 4));
    w.commit();
    std::vector<std::string> out_keys;
    auto src = GgufSource::open(out);
    for (const auto& e : src->metadata()) out_keys.push_back(e.key);
    return out_keys;
  };
  EXPECT_EQ(keys({}, DType::F16), std::vector<std::string>{});
  EXPECT_EQ(keys({}, DType::Q8_0), std::vector<std::string>{"general.quantization_version"});
  EXPECT_EQ(keys({{"general.quantization_version", u32(2)}, {"z", u32(0)}}, DType::Q4_0),
            (std::vector<std::string>{"general.quantization_version", "z"}));
}

TEST(GgufWriter, NameLengths) {
  TempDir dir;
  std::string out = (dir / "o.gguf").string();
  auto warnings = [&](size_t len) {
    GgufWriter w(out, {}, {{std::string(len, 'n'), DType::F32, {1}}});
    return w.warnings().size();
  };
  EXPECT_EQ(warnings(63), 0u);
  EXPECT_EQ(warnings(64), 1u);
  EXPECT_EQ(warnings(127), 1u);
  EXPECT_THROW(warnings(128), InvalidArgument);
  EXPECT_THROW(GgufWriter(out, {}, {{"bad\xff", DType::F32, {1}}}), InvalidArgument);
}

TEST(GgufWriter, RejectsWhatTheReaderWouldRefuse) {
  TempDir dir;
  std::string out = (dir / "o.gguf").string();
  using T = GgufType;
  auto kv_fails = [&](MetadataEntry e) {
    EXPECT_THROW(GgufWriter(out, {std::move(e)}, {}), InvalidArgument);
  };
  kv_fails({"", u32(1)});
  kv_fails({"k\xff", u32(1)});
  kv_fails({"k", val(T::U8, uint64_t{256})});
  kv_fails({"k", val(T::I8, int64_t{128})});
  kv_fails({"k", val(T::I16, int64_t{-32769})});
  kv_fails({"k", val(T::U32, int64_t{-1})});
  kv_fails({"k", val(T::U32, std::string("1"))});
  kv_fails({"k", val(T::BOOL, uint64_t{1})});
  kv_fails({"k", val(T::F32, uint64_t{1})});
  kv_fails({"k", val(T::STRING, true)});
  kv_fails({"k", val(static_cast<T>(13), uint64_t{1})});
  kv_fails({"k", arr(T::ARRAY, {arr(T::U8, {})})});
  kv_fails({"k", arr(T::U32, {u32(1), val(T::I32, int64_t{1})})});
  kv_fails({"k", val(T::ARRAY, uint64_t{1})});
  EXPECT_THROW(GgufWriter(out, {{"k", u32(1)}, {"k", u32(2)}}, {}), InvalidArgument);
  // Integers may come as either alternative when they fit.
  EXPECT_NO_THROW(
      GgufWriter(out, {{"k", val(T::U8, int64_t{255})}, {"j", val(T::I64, uint64_t{5})}}, {}));

  auto decl_fails = [&](TensorDecl d) {
    EXPECT_THROW(GgufWriter(out, {}, {std::move(d)}), InvalidArgument);
  };
  decl_fails({"s", DType::F32, {}});
  decl_fails({"six", DType::F32, {1, 1, 1, 1, 1, 1}});
  decl_fails({"q", DType::Q8_0, {32, 16}});
  decl_fails({"f8", DType::F8_E4M3, {4}});
  decl_fails({"u16", DType::U16, {4}});
  decl_fails({"huge", DType::F32, {uint64_t{1} << 31, uint64_t{1} << 31}});
  decl_fails({"huge", DType::F32, {3, uint64_t{1} << 62}});
  EXPECT_THROW(GgufWriter(out, {}, {{"a", DType::F32, {1}}, {"a", DType::F32, {1}}}),
               InvalidArgument);
  // The ComfyUI logical shape of a declared tensor must hold its element count.
  auto shape = [](std::vector<int64_t> dims) {
    std::vector<GgufValue> items;
    for (auto d : dims) items.push_back(val(T::I32, d));
    return arr(T::I32, items);
  };
  std::vector<TensorDecl> q = {{"w", DType::Q8_0, {45, 256}}};
  EXPECT_NO_THROW(GgufWriter(out, {{"comfy.gguf.orig_shape.w", shape({320, 4, 3, 3})}}, q));
  EXPECT_THROW(GgufWriter(out, {{"comfy.gguf.orig_shape.w", shape({320, 4, 3, 4})}}, q),
               InvalidArgument);
  EXPECT_THROW(GgufWriter(out, {{"comfy.gguf.orig_shape.w", u32(11520)}}, q), InvalidArgument);
  // Nothing of the failed writers is left behind.
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{});
}

// ---- streaming and atomicity
// ---------------------------------------------------------------------

TEST(GgufWriter, HeaderGoesFirstIntoAHiddenTemporaryFile) {
  TempDir dir;
  fs::path out = dir / "o.gguf";
  GgufWriter w(out.string(), {}, {{"a", DType::F32, {1000}}});
  auto files = listing(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].rfind(".o.gguf.", 0), 0u) << files[0];
  auto temp = read_file(dir / files[0]);
  ASSERT_GE(temp.size(), 4000u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(temp.data()), 4), "GGUF");
  EXPECT_FALSE(fs::exists(out));
}

TEST(GgufWriter, EachByteExactlyOnce) {
  TempDir dir;
  std::string out = (dir / "o.gguf").string();
  auto data = random_bytes(400, 5);
  GgufWriter w(out, {}, {{"a", DType::F32, {100}}, {"b", DType::F32, {1}}});
  w.write("a", std::span(data).subspan(100, 100), 100);
  EXPECT_THROW(w.write("a", std::span(data).subspan(150, 100), 150), InvalidArgument);  // overlap
  EXPECT_THROW(w.write("a", std::span(data).subspan(0, 101), 0), InvalidArgument);      // overlap
  EXPECT_THROW(w.write("a", std::span(data).subspan(0, 8), 396), InvalidArgument);  // past the end
  EXPECT_THROW(w.write("a", std::span(data).subspan(0, 1), 401), InvalidArgument);
  EXPECT_THROW(w.write("c", std::span(data).subspan(0, 4)), InvalidArgument);  // undeclared
  w.write("a", std::span(data).subspan(0, 100), 0);  // touching ranges merge
  w.write("a", std::span(data).subspan(200, 200), 200);
  EXPECT_THROW(w.write("a", std::span(data).subspan(0, 1), 399), InvalidArgument);
  EXPECT_THROW(w.commit(), InvalidArgument);  // "b" missing
  w.write("b", std::span(data).subspan(0, 4));
  w.commit();
  EXPECT_THROW(w.write("b", std::span(data).subspan(0, 0)), InvalidArgument);
  EXPECT_THROW(w.commit(), InvalidArgument);
  auto src = open_gguf(out);
  auto v = src->view("a").bytes;
  EXPECT_TRUE(std::equal(v.begin(), v.end(), data.begin(), data.end()));
}

TEST(GgufWriter, ConcurrentDisjointWrites) {
  TempDir dir;
  std::string out = (dir / "o.gguf").string();
  auto data = random_bytes(1 << 20, 6);
  {
    GgufWriter w(out, {}, {{"a", DType::F32, {1 << 18}}});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (size_t off = static_cast<size_t>(t) * 4096; off < data.size(); off += 4 * 4096)
          w.write("a", std::span(data).subspan(off, 4096), off);
      });
    for (auto& th : threads) th.join();
    w.commit();
  }
  auto src = open_gguf(out);
  auto v = src->view("a").bytes;
  EXPECT_TRUE(std::equal(v.begin(), v.end(), data.begin(), data.end()));
}

TEST(GgufWriter, FailuresLeaveNoTemporaryFileAndNoDestination) {
  TempDir dir;
  fs::path out = dir / "o.gguf";
  {
    GgufWriter w(out.string(), {}, {{"a", DType::F32, {4}}});
    w.write("a", random_bytes(8, 7));
    EXPECT_THROW(w.commit(), InvalidArgument);
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{});
  {
    GgufWriter w(out.string(), {}, {{"a", DType::F32, {4}}});
    w.write("a", random_bytes(16, 7));
    // Destroyed without commit().
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{});
  // A previous file stays as it was.
  write_file(out, std::string("previous"));
  {
    GgufWriter w(out.string(), {}, {{"a", DType::F32, {4}}});
    w.write("a", random_bytes(16, 7));
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"o.gguf"});
  auto prev = read_file(out);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(prev.data()), prev.size()), "previous");
  // A folder that does not exist.
  EXPECT_THROW(GgufWriter((dir / "missing" / "o.gguf").string(), {}, {}), IoError);
  // Committing replaces it.
  {
    GgufWriter w(out.string(), {}, {{"a", DType::F32, {4}}});
    w.write("a", random_bytes(16, 7));
    w.commit();
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"o.gguf"});
  EXPECT_NO_THROW(open_gguf(out.string()));
}

// A writer killed in the middle of the data leaves the destination as it was (absent, or its
// previous content): the data only ever went to the temporary file.
void kill_mid_file(const fs::path& out) {
  int ready[2], hold[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(hold), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    ::close(hold[1]);
    try {
      auto data = random_bytes(1 << 20, 8);
      GgufWriter w(out.string(), {}, {{"a", DType::F32, {1 << 19}}});
      w.write("a", std::span(data).subspan(0, 1 << 19), 0);  // half of it
      char c = 'x';
      if (::write(ready[1], &c, 1) != 1) ::_exit(2);
      if (::read(hold[0], &c, 1) < 0) ::_exit(4);  // blocks until killed; the parent never writes
      w.write("a", std::span(data).subspan(1 << 19), 1 << 19);
      w.commit();
    } catch (...) {
      ::_exit(3);
    }
    ::_exit(0);
  }
  ::close(ready[1]);
  ::close(hold[0]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the child did not start writing";
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ::close(ready[0]);
  ::close(hold[1]);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(GgufWriter, KilledMidFileLeavesDestinationIntact) {
  TempDir dir;
  fs::path out = dir / "o.gguf";
  kill_mid_file(out);
  EXPECT_FALSE(fs::exists(out));
  // The half-written temporary file is all that is left (nobody could remove it).
  auto files = listing(dir.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0].find("lorakit-tmp"), std::string::npos);
  fs::remove(dir / files[0]);

  write_file(out, std::string("previous"));
  kill_mid_file(out);
  auto prev = read_file(out);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(prev.data()), prev.size()), "previous");
}

// ---- to_string
// -----------------------------------------------------------------------------------

TEST(GgufValue, ToString) {
  using T = GgufType;
  EXPECT_EQ(to_string(val(T::U8, uint64_t{7})), "7");
  EXPECT_EQ(to_string(val(T::I64, int64_t{-5})), "-5");
  EXPECT_EQ(to_string(val(T::F32, 0.1f)), "0.1");
  EXPECT_EQ(to_string(val(T::F32, 2.0)), "2.0");
  EXPECT_EQ(to_string(val(T::F64, 0.1)), "0.1");
  EXPECT_EQ(to_string(val(T::F64, -INFINITY)), "-inf");
  EXPECT_EQ(to_string(val(T::BOOL, true)), "true");
  EXPECT_EQ(to_string(val(T::STRING, std::string("a\"b\\c\n\x01\xc3\xa9\xff"))),
            "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\\xff\"");
  std::vector<GgufValue> items;
  for (uint32_t i = 0; i < 20; ++i) items.push_back(u32(i));
  GgufValue a = arr(T::U32, items);
  EXPECT_EQ(to_string(a, 3), "[0, 1, 2, ... (20 items)]");
  EXPECT_EQ(to_string(a, 0), "[... (20 items)]");
  EXPECT_EQ(to_string(a, 20),
            "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]");
  EXPECT_EQ(to_string(a), "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, ... (20 items)]");
  EXPECT_EQ(to_string(arr(T::STRING, {val(T::STRING, std::string("x"))})), "[\"x\"]");
  EXPECT_EQ(to_string(arr(T::F32, {})), "[]");
}

TEST(GgufDType, NewestGgmlTypeGeometry) {
  // ggml 0.21.0: block_nvfp4 {u8 d[4]; u8 qs[32]}, block_q1_0 {half d; u8 qs[16]},
  // block_q2_0 {half d; u8 qs[16]}.
  EXPECT_EQ(traits(DType::NVFP4).block_elements, 64u);
  EXPECT_EQ(traits(DType::NVFP4).block_bytes, 36u);
  EXPECT_EQ(traits(DType::Q1_0).block_elements, 128u);
  EXPECT_EQ(traits(DType::Q1_0).block_bytes, 18u);
  EXPECT_EQ(traits(DType::Q2_0).block_elements, 64u);
  EXPECT_EQ(traits(DType::Q2_0).block_bytes, 18u);
  EXPECT_EQ(dtype_from_ggml_id(40), DType::NVFP4);
  EXPECT_EQ(dtype_from_ggml_id(41), DType::Q1_0);
  EXPECT_EQ(dtype_from_ggml_id(42), DType::Q2_0);
}

}  // namespace
}  // namespace lorakit::io
