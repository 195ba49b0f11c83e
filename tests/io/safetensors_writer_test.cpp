// SafetensorsWriter: the canonical layout byte for byte (file-formats.md §1.6, the reference
// writer's canonical_example.safetensors), round trips of every dtype, chunked out-of-order writes,
// and the errors that must leave neither a temporary file nor a destination behind.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

namespace fs = std::filesystem;
using lorakit::testing::read_file;
using lorakit::testing::TempDir;
using lorakit::testing::testdata;

std::span<const std::byte> as_span(const std::vector<uint8_t>& v) {
  return std::as_bytes(std::span(v));
}
template <typename T>
std::vector<uint8_t> le_bytes(std::initializer_list<T> values) {
  std::vector<uint8_t> out(values.size() * sizeof(T));
  std::memcpy(out.data(), std::data(values), out.size());
  return out;
}
std::string text_of(const std::vector<std::byte>& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}
std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (auto& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// The inputs of testdata/safetensors/README.md "canonical_example.safetensors".
struct Canonical {
  std::vector<uint8_t> b_weight = le_bytes<float>({0, 1, 2, 3, 4, 5});
  std::vector<uint8_t> a_alpha = le_bytes<uint16_t>({0x3F80, 0x4000, 0x4040, 0x4080});
  std::vector<uint8_t> d_f8 = {0x38, 0x7e};
  std::vector<uint8_t> c_idx = {1, 2, 3};
  // Declared in an order unlike the canonical one: the writer must sort.
  std::vector<TensorDecl> decls = {{"c.idx", DType::U8, {3}},
                                   {"d.f8", DType::F8_E4M3, {2}},
                                   {"a.alpha", DType::BF16, {4}},
                                   {"b.weight", DType::F32, {2, 3}}};
  void write_all(SafetensorsWriter& w) const {
    w.write("d.f8", as_span(d_f8));
    w.write("b.weight", as_span(b_weight));
    w.write("c.idx", as_span(c_idx));
    w.write("a.alpha", as_span(a_alpha));
  }
};

TEST(SafetensorsWriter, ReproducesTheCanonicalExample) {
  const auto expected = read_file(testdata("safetensors/canonical_example.safetensors"));
  ASSERT_EQ(expected.size(), 325u);
  Canonical c;
  TempDir dir;
  for (bool explicit_metadata : {false, true}) {
    const auto dest = dir / (explicit_metadata ? "explicit.safetensors" : "default.safetensors");
    std::optional<std::map<std::string, std::string>> meta;
    if (explicit_metadata) meta = std::map<std::string, std::string>{{"format", "pt"}};
    SafetensorsWriter w(dest.string(), c.decls, meta);
    c.write_all(w);
    w.commit();
    EXPECT_EQ(read_file(dest), expected) << dest;
  }
  EXPECT_EQ(listing(dir.path()),
            (std::vector<std::string>{"default.safetensors", "explicit.safetensors"}));
}

TEST(SafetensorsWriter, GoldenVectors) {
  TempDir dir;
  {
    SafetensorsWriter w((dir / "empty").string(), {}, std::map<std::string, std::string>{});
    w.commit();
    EXPECT_EQ(text_of(read_file(dir / "empty")), std::string("\x08\0\0\0\0\0\0\0{}      ", 16));
  }
  {
    SafetensorsWriter w((dir / "meta").string(), {},
                        std::map<std::string, std::string>{{"framework", "pt"}});
    w.commit();
    EXPECT_EQ(
        text_of(read_file(dir / "meta")),
        std::string("\x28\0\0\0\0\0\0\0", 8) + R"({"__metadata__":{"framework":"pt"}})" + "     ");
  }
  {
    // Default metadata, no tensors: 32 bytes of JSON need no padding.
    SafetensorsWriter w((dir / "default").string(), {});
    w.commit();
    EXPECT_EQ(text_of(read_file(dir / "default")),
              std::string("\x20\0\0\0\0\0\0\0", 8) + R"({"__metadata__":{"format":"pt"}})");
  }
  for (const char* f : {"empty", "meta", "default"})
    EXPECT_NO_THROW(open_safetensors((dir / f).string()));
}

TEST(SafetensorsWriter, MetadataSortedByteWiseAndEscapedLikeSerde) {
  TempDir dir;
  const auto dest = dir / "e.safetensors";
  const std::string odd_name = std::string("q\"\\/\b\f\n\r\t\x01\x1f\x7f", 12) + "é";
  {
    SafetensorsWriter w(dest.string(), {{odd_name, DType::U8, {1}}},
                        std::map<std::string, std::string>{
                            {"b", "2"}, {"a", "1"}, {"B", "0"}, {"\xc3\xa9", "</x>"}});
    std::vector<uint8_t> one = {7};
    w.write(odd_name, as_span(one));
    w.commit();
  }
  const std::string text = text_of(read_file(dest));
  const std::string header = R"({"__metadata__":{"B":"0","a":"1","b":"2","é":"</x>"},)"
                             R"("q\"\\/\b\f\n\r\t\u0001\u001f)"
                             "\x7f"
                             R"(é":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  const uint64_t n = (header.size() + 7) / 8 * 8;
  EXPECT_EQ(text.substr(8, n), header + std::string(n - header.size(), ' '));
  EXPECT_EQ(static_cast<uint8_t>(text[0]), n);
  auto src = open_safetensors(dest.string());
  ASSERT_NE(src->find(odd_name), nullptr);
  ASSERT_EQ(src->metadata().size(), 4u);
  EXPECT_EQ(src->metadata()[0].key, "B");
  EXPECT_EQ(src->metadata()[3].key, "é");
}

TEST(SafetensorsWriter, EveryDtypeRoundTripsByteForByte) {
  TempDir dir;
  std::vector<TensorDecl> decls;
  std::map<std::string, std::vector<uint8_t>> data;
  uint32_t seed = 1;
  for (const auto& t : all_dtypes()) {
    if (!t.in_safetensors) continue;
    // [2, 4]: 8 elements is a whole number of bytes for F4 and F6 too.
    TensorDecl d{"t." + std::string(t.name), t.dtype, {2, 4}};
    const uint64_t nbytes = *bytes_for(t.dtype, 8);
    data[d.name] = random_bytes(nbytes, seed++);
    decls.push_back(d);
  }
  ASSERT_EQ(decls.size(), 22u);
  const auto first = dir / "first.safetensors";
  {
    SafetensorsWriter w(first.string(), decls);
    for (const auto& [name, bytes] : data) w.write(name, as_span(bytes));
    w.commit();
  }
  auto src = open_safetensors(first.string());
  ASSERT_EQ(src->tensors().size(), 22u);
  // Canonical order: dtype descending in the §1.2 order.
  for (size_t i = 1; i < src->tensors().size(); ++i)
    EXPECT_GT(src->tensors()[i - 1].dtype, src->tensors()[i].dtype);
  EXPECT_EQ(src->tensors().front().dtype, DType::U64);
  EXPECT_EQ(src->tensors().back().dtype, DType::BOOL);
  for (const auto& [name, bytes] : data) {
    const TensorInfo* t = src->find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->shape, (std::vector<uint64_t>{2, 4}));
    EXPECT_EQ(t->elements, 8u);
    TensorView v = src->view(name);
    ASSERT_EQ(v.bytes.size(), bytes.size()) << name;
    EXPECT_EQ(std::memcmp(v.bytes.data(), bytes.data(), bytes.size()), 0) << name;
  }
  // Writing what the reader gives back reproduces the file; so does one file per dtype.
  std::map<std::string, std::string> meta;
  for (const auto& m : src->metadata()) meta[m.key] = std::get<std::string>(m.value.value);
  std::vector<TensorDecl> again;
  for (const auto& t : src->tensors()) again.push_back({t.name, t.dtype, t.shape});
  const auto second = dir / "second.safetensors";
  {
    SafetensorsWriter w(second.string(), again, meta);
    for (const auto& t : src->tensors()) w.write(t.name, src->view(t).bytes);
    w.commit();
  }
  EXPECT_EQ(read_file(first), read_file(second));
  for (const auto& d : decls) {
    const auto one = dir / (d.name + ".safetensors");
    {
      SafetensorsWriter w(one.string(), {d});
      w.write(d.name, as_span(data[d.name]));
      w.commit();
    }
    auto s1 = open_safetensors(one.string());
    const auto two = dir / (d.name + ".again.safetensors");
    {
      const TensorInfo& t = s1->tensors().at(0);
      SafetensorsWriter w(two.string(), {{t.name, t.dtype, t.shape}});
      w.write(t.name, s1->view(t).bytes);
      w.commit();
    }
    EXPECT_EQ(read_file(one), read_file(two)) << d.name;
  }
}

TEST(SafetensorsWriter, ChunksInAnyOrder) {
  TempDir dir;
  const auto dest = dir / "chunks.safetensors";
  const auto a = random_bytes(1000, 7), b = random_bytes(333 * 4, 8);
  {
    SafetensorsWriter w(dest.string(), {{"a", DType::U8, {1000}}, {"b", DType::F32, {333}}});
    // Interleaved, back to front, uneven chunk sizes.
    std::vector<std::pair<uint64_t, uint64_t>> ca, cb;
    for (uint64_t off = 0; off < a.size(); off += 37)
      ca.push_back({off, std::min<uint64_t>(37, a.size() - off)});
    for (uint64_t off = 0; off < b.size(); off += 100)
      cb.push_back({off, std::min<uint64_t>(100, b.size() - off)});
    std::reverse(ca.begin(), ca.end());
    std::shuffle(cb.begin(), cb.end(), std::mt19937(3));
    for (size_t i = 0; i < std::max(ca.size(), cb.size()); ++i) {
      if (i < ca.size()) w.write("a", as_span(a).subspan(ca[i].first, ca[i].second), ca[i].first);
      if (i < cb.size()) w.write("b", as_span(b).subspan(cb[i].first, cb[i].second), cb[i].first);
    }
    w.write("a", {}, 0);  // an empty write is a no-op
    w.commit();
  }
  auto src = open_safetensors(dest.string());
  ASSERT_EQ(src->tensors()[0].name, "b");  // F32 before U8
  EXPECT_EQ(std::memcmp(src->view("a").bytes.data(), a.data(), a.size()), 0);
  EXPECT_EQ(std::memcmp(src->view("b").bytes.data(), b.data(), b.size()), 0);
}

TEST(SafetensorsWriter, ConcurrentDisjointWrites) {
  TempDir dir;
  const auto dest = dir / "mt.safetensors";
  const auto data = random_bytes(64 * 1024, 11);
  {
    SafetensorsWriter w(dest.string(), {{"x", DType::BF16, {32 * 1024}}});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
      threads.emplace_back([&, t] {
        for (uint64_t off = static_cast<uint64_t>(t) * 1024; off < data.size(); off += 4 * 1024)
          w.write("x", as_span(data).subspan(off, 1024), off);
      });
    for (auto& th : threads) th.join();
    w.commit();
  }
  auto src = open_safetensors(dest.string());
  EXPECT_EQ(std::memcmp(src->view("x").bytes.data(), data.data(), data.size()), 0);
}

TEST(SafetensorsWriter, ReplacesAnExistingDestination) {
  TempDir dir;
  const auto dest = dir / "x.safetensors";
  lorakit::testing::write_file(dest, std::string("old content"));
  Canonical c;
  {
    SafetensorsWriter w(dest.string(), c.decls);
    c.write_all(w);
    EXPECT_EQ(text_of(read_file(dest)), "old content");  // untouched until commit()
    w.commit();
  }
  EXPECT_EQ(read_file(dest), read_file(testdata("safetensors/canonical_example.safetensors")));
  EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"x.safetensors"}));
}

// Each error leaves the folder as it was once the writer is gone: no destination, no temporary
// file.
TEST(SafetensorsWriter, ErrorsLeaveNothingBehind) {
  Canonical c;
  std::vector<uint8_t> four(4, 0);
  auto expect_clean = [](const TempDir& dir) {
    EXPECT_TRUE(listing(dir.path()).empty()) << ::testing::PrintToString(listing(dir.path()));
  };
  {  // Missing bytes at commit().
    TempDir dir;
    {
      SafetensorsWriter w((dir / "o").string(), c.decls);
      w.write("d.f8", as_span(c.d_f8));
      w.write("b.weight", as_span(c.b_weight));
      w.write("a.alpha", as_span(c.a_alpha));
      w.write("c.idx", as_span(c.c_idx).subspan(0, 2));
      EXPECT_EQ(listing(dir.path()).size(), 1u);  // the hidden temporary file
      try {
        w.commit();
        ADD_FAILURE() << "committed with a byte missing";
      } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find(
                      "tensor \"c.idx\": 2 of 3 bytes written (byte 2 is missing)"),
                  std::string::npos)
            << e.what();
      }
      EXPECT_FALSE(fs::exists(dir / "o"));
    }
    expect_clean(dir);
  }
  {  // A byte written twice, an unknown name, a range past the end.
    TempDir dir;
    {
      SafetensorsWriter w((dir / "o").string(), c.decls);
      w.write("b.weight", as_span(c.b_weight).subspan(0, 12));
      w.write("b.weight", as_span(c.b_weight).subspan(16, 8), 16);
      EXPECT_THROW(w.write("b.weight", as_span(four), 10), InvalidArgument);
      EXPECT_THROW(w.write("b.weight", as_span(four), 14), InvalidArgument);
      EXPECT_THROW(w.write("b.weight", as_span(c.b_weight)), InvalidArgument);
      EXPECT_THROW(w.write("nope", as_span(four)), InvalidArgument);
      EXPECT_THROW(w.write("c.idx", as_span(four)), InvalidArgument);
      EXPECT_THROW(w.write("c.idx", as_span(four).subspan(0, 1), UINT64_MAX), InvalidArgument);
      // The rejected writes claimed nothing: the gap [12,16) can still be filled exactly once.
      w.write("b.weight", as_span(c.b_weight).subspan(12, 4), 12);
      EXPECT_THROW(w.write("b.weight", as_span(c.b_weight).subspan(12, 4), 12), InvalidArgument);
    }
    expect_clean(dir);
  }
  {  // Declarations the format cannot hold: nothing is created at all.
    TempDir dir;
    const std::string d = (dir / "o").string();
    EXPECT_THROW(SafetensorsWriter(d, {{"a", DType::F32, {1}}, {"a", DType::F32, {1}}}),
                 InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"a", DType::F32, {1}}, {"a", DType::U8, {1}}}),
                 InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"q", DType::Q4_K, {256}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"f", DType::F4, {3}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"f", DType::F6_E2M3, {6}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"s", DType::I32, {2, UINT64_MAX / 2}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"s", DType::U8, {UINT64_MAX}}, {"t", DType::U8, {1}}}),
                 InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"s", DType::U8, {uint64_t{1} << 63}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"__metadata__", DType::U8, {1}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {{"\xff", DType::U8, {1}}}), InvalidArgument);
    EXPECT_THROW(SafetensorsWriter(d, {}, std::map<std::string, std::string>{{"k", "\xc3"}}),
                 InvalidArgument);
    EXPECT_THROW(SafetensorsWriter((dir / "no-such-folder" / "o").string(), {}), IoError);
    expect_clean(dir);
  }
  {  // commit() twice, write after commit.
    TempDir dir;
    SafetensorsWriter w((dir / "o").string(), {{"z", DType::U8, {0}}});
    w.commit();
    EXPECT_THROW(w.commit(), InvalidArgument);
    EXPECT_THROW(w.write("z", {}), InvalidArgument);
    EXPECT_EQ(listing(dir.path()), (std::vector<std::string>{"o"}));
  }
}

TEST(SafetensorsWriter, HeaderOverTheLimitIsRefused) {
  TempDir dir;
  // One metadata value makes the padded header just over 100,000,000 bytes.
  std::map<std::string, std::string> meta{{"k", std::string(100'000'000 - 20, 'x')}};
  try {
    SafetensorsWriter w((dir / "big").string(), {}, meta);
    ADD_FAILURE() << "accepted a header over the limit";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.category(), "header_too_large");
  }
  EXPECT_TRUE(listing(dir.path()).empty());
}

}  // namespace
}  // namespace lorakit::io
