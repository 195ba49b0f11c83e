// The safetensors reader against the shared corpus (testdata/safetensors/cases.tsv: every file's
// verdict and error class), the public sample files' values, and hand-built headers for the rules
// of file-formats.md §1.4 that the corpus does not reach.
#include <gtest/gtest.h>

#include <cstring>
#include <set>

#include "lorakit/io.hpp"
#include "test_util.hpp"

namespace lorakit::io {
namespace {

using lorakit::testing::read_tsv;
using lorakit::testing::TempDir;
using lorakit::testing::testdata;

// A safetensors file: little-endian N, the header text, the data bytes.
std::string st_file(const std::string& header, const std::string& data = "") {
  std::string out;
  const uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  return out + header + data;
}

// The FormatError category that opening `bytes` gives, "" when it opens, "other: ..." for any other
// exception.
std::string verdict_of(const std::string& bytes, std::string* message = nullptr) {
  TempDir dir;
  const auto path = dir / "t.safetensors";
  lorakit::testing::write_file(path, bytes);
  try {
    open_safetensors(path.string());
    return "";
  } catch (const FormatError& e) {
    if (message) *message = e.message();
    EXPECT_EQ(e.file(), path.string());
    return e.category();
  } catch (const std::exception& e) {
    return std::string("other: ") + e.what();
  }
}

std::vector<uint8_t> bytes_of(const TensorView& v) {
  std::vector<uint8_t> out(v.bytes.size());
  if (!out.empty()) std::memcpy(out.data(), v.bytes.data(), out.size());
  return out;
}

// Values of a little-endian tensor, widened, read through memcpy (the data need not be aligned).
template <typename T>
std::vector<T> values_of(const TensorView& v) {
  std::vector<T> out(v.bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), v.bytes.data(), out.size() * sizeof(T));
  return out;
}

TEST(SafetensorsCorpus, EveryFileGetsItsVerdictAndErrorClass) {
  const auto rows = read_tsv(testdata("safetensors/cases.tsv"));
  ASSERT_EQ(rows.size(), 108u);  // README: the manifest for all 108 files
  int accepted = 0, rejected = 0;
  for (const auto& row : rows) {
    ASSERT_GE(row.size(), 3u);
    const std::string path = testdata("safetensors/" + row[0]).string();
    SCOPED_TRACE(row[0]);
    const bool expect_accept = row[1] == "accept";
    ASSERT_TRUE(expect_accept || row[1] == "reject") << row[1];
    try {
      auto src = open_safetensors(path);
      EXPECT_TRUE(expect_accept) << "accepted, expected " << row[2];
      EXPECT_EQ(src->path(), path);
      EXPECT_EQ(src->format(), FileFormat::Safetensors);
      ASSERT_EQ(src->files().size(), 1u);
      // Every tensor's view lies in the mapping, in data order, and find() reaches it.
      uint64_t next = 0;
      for (const auto& t : src->tensors()) {
        EXPECT_EQ(src->find(t.name), &t);
        TensorView v = src->view(t);
        EXPECT_EQ(v.bytes.size(), t.nbytes);
        if (next) {
          EXPECT_EQ(t.file_offset, next) << t.name;
        }
        next = t.file_offset + t.nbytes;
      }
      if (next) {
        EXPECT_EQ(next, src->files()[0]->size());
      }
      ++accepted;
    } catch (const FormatError& e) {
      EXPECT_FALSE(expect_accept) << "rejected as " << e.category() << ": " << e.what();
      EXPECT_EQ(e.category(), row[2]) << e.what();
      EXPECT_EQ(e.file(), path);
      EXPECT_FALSE(e.message().empty());
      EXPECT_EQ(std::string(e.what()), path + ": " + e.message());
      ++rejected;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "unexpected exception: " << e.what();
    }
  }
  EXPECT_EQ(accepted, 46);
  EXPECT_EQ(rejected, 62);
}

TEST(SafetensorsCorpus, OpenTensorSourceAgrees) {
  // Through the dispatcher the corpus files (which have no extension) get the same verdicts, except
  // the few too damaged to be recognised as safetensors at all (no 8-byte length followed by JSON).
  const std::set<std::string> unrecognisable = {"cases/bad_7_bytes", "cases/bad_empty_file",
                                                "cases/bad_n_zero", "cases/bad_non_utf8"};
  for (const auto& row : read_tsv(testdata("safetensors/cases.tsv"))) {
    const std::string path = testdata("safetensors/" + row[0]).string();
    SCOPED_TRACE(row[0]);
    try {
      auto src = open_tensor_source(path);
      EXPECT_EQ(row[1], "accept");
      EXPECT_EQ(src->format(), FileFormat::Safetensors);
    } catch (const FormatError& e) {
      EXPECT_EQ(row[1], "reject");
      EXPECT_EQ(e.category(), unrecognisable.contains(row[0]) ? "unknown_format" : row[2])
          << e.what();
    }
  }
}

TEST(SafetensorsCorpus, MessagesNameTheTensorAndTheExpectation) {
  std::string msg;
  auto check = [&](const char* file, const char* category, std::vector<std::string> parts) {
    SCOPED_TRACE(file);
    try {
      open_safetensors(testdata(std::string("safetensors/cases/") + file).string());
      ADD_FAILURE() << "accepted";
    } catch (const FormatError& e) {
      EXPECT_EQ(e.category(), category);
      for (const auto& p : parts) EXPECT_NE(e.message().find(p), std::string::npos) << e.message();
    }
  };
  check("bad_size_mismatch", "size_mismatch",
        {"tensor \"a\": data_offsets [0,4] hold 4 bytes, but I32 [2,2] needs 16"});
  check("bad_hole", "bad_offsets", {"tensor \"b\"", "[12,20]", "\"a\"", "ends at 8"});
  check("bad_end_lt_begin", "bad_offsets", {"[8,0]"});
  check("bad_dtype_F16", "unknown_dtype", {"tensor \"a\"", "\"F16 \"", "F8_E4M3"});
  check("bad_shape_overflow_bits", "shape_overflow",
        {"tensor \"a\"", "I32", "9223372036854775807"});
  check("bad_f4_odd_elements", "misaligned_subbyte", {"F4", "12 bits", "multiple of 2"});
  check("bad_f6_elements_not_byte_multiple", "misaligned_subbyte", {"F6_E2M3", "multiple of 4"});
  check("bad_missing_bytes", "incomplete_coverage", {"tensor \"w\"", "1 missing"});
  check("bad_extra_trailing_bytes", "incomplete_coverage", {"1 trailing"});
  check("dup_tensor_key_same_info", "duplicate_key", {"tensor \"a\" appears twice"});
  check("dup_key_inside_metadata", "duplicate_key", {"\"a\" appears twice"});
  check("bad_metadata_nested", "bad_metadata", {"\"k\"", "must be a string"});
  check("bad_missing_shape", "bad_schema", {"missing field \"shape\""});
  check("bad_shape_too_big_for_u64", "bad_shape", {"does not fit in 64 bits"});
  check("bad_shape_float", "bad_shape", {"1.0"});
  check("bad_n_u64max", "header_too_large", {"18446744073709551615"});
  check("bad_non_utf8", "bad_utf8", {"0xff"});
  check("bad_7_bytes", "header_too_small", {"7 bytes"});
}

// Public samples (huggingface/safetensors samples/): metadata {"test":"a"}, one tensor [6] holding
// range(-3, 3) cast to its dtype.
void expect_sample_tensor(const TensorSource& src, const std::string& name) {
  SCOPED_TRACE(name);
  const TensorInfo* t = src.find(name);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->shape, (std::vector<uint64_t>{6}));
  EXPECT_EQ(t->storage_shape, t->shape);
  EXPECT_EQ(t->elements, 6u);
  TensorView v = src.view(name);
  EXPECT_EQ(v.info, t);
  const char c = name[0];
  if (c == 'B') {
    EXPECT_EQ(t->dtype, DType::U8);
    EXPECT_EQ(values_of<uint8_t>(v), (std::vector<uint8_t>{253, 254, 255, 0, 1, 2}));
  } else if (c == 'H') {
    EXPECT_EQ(t->dtype, DType::U16);
    EXPECT_EQ(values_of<uint16_t>(v), (std::vector<uint16_t>{65533, 65534, 65535, 0, 1, 2}));
  } else if (c == 'I') {
    EXPECT_EQ(t->dtype, DType::U32);
    EXPECT_EQ(values_of<uint32_t>(v),
              (std::vector<uint32_t>{4294967293u, 4294967294u, 4294967295u, 0, 1, 2}));
  } else if (c == 'b') {
    EXPECT_EQ(t->dtype, DType::I8);
    EXPECT_EQ(values_of<int8_t>(v), (std::vector<int8_t>{-3, -2, -1, 0, 1, 2}));
  } else if (c == 'h') {
    EXPECT_EQ(t->dtype, DType::I16);
    EXPECT_EQ(values_of<int16_t>(v), (std::vector<int16_t>{-3, -2, -1, 0, 1, 2}));
  } else if (c == 'i') {
    EXPECT_EQ(t->dtype, DType::I32);
    EXPECT_EQ(values_of<int32_t>(v), (std::vector<int32_t>{-3, -2, -1, 0, 1, 2}));
  } else if (c == 'e') {
    EXPECT_EQ(t->dtype, DType::F16);
    // -3, -2, -1, 0, 1, 2 as IEEE half bit patterns.
    EXPECT_EQ(values_of<uint16_t>(v),
              (std::vector<uint16_t>{0xC200, 0xC000, 0xBC00, 0x0000, 0x3C00, 0x4000}));
  } else if (c == 'f') {
    EXPECT_EQ(t->dtype, DType::F32);
    EXPECT_EQ(values_of<float>(v), (std::vector<float>{-3, -2, -1, 0, 1, 2}));
  } else if (c == 'd') {
    EXPECT_EQ(t->dtype, DType::F64);
    EXPECT_EQ(values_of<double>(v), (std::vector<double>{-3, -2, -1, 0, 1, 2}));
  } else {
    ADD_FAILURE() << "unexpected tensor";
  }
}

TEST(SafetensorsSamples, ValuesAndMetadata) {
  const std::pair<const char*, const char*> files[] = {
      {"u8", "B"},  {"u16", "H"}, {"u32", "I"}, {"i8", "b"},  {"i16", "h"},
      {"i32", "i"}, {"f16", "e"}, {"f32", "f"}, {"f64", "d"},
  };
  for (const auto& [suffix, name] : files) {
    auto src = open_safetensors(
        testdata(std::string("safetensors/samples/sample_") + suffix + ".safetensors").string());
    ASSERT_EQ(src->tensors().size(), 1u);
    ASSERT_EQ(src->metadata().size(), 1u);
    EXPECT_EQ(src->metadata()[0].key, "test");
    EXPECT_EQ(src->metadata()[0].value.type, GgufType::STRING);
    EXPECT_EQ(std::get<std::string>(src->metadata()[0].value.value), "a");
    expect_sample_tensor(*src, name);
    EXPECT_NE((src->tensors()[0].file_offset - 8) % 8, 0u) << "samples have unaligned headers";
  }
  auto all = open_safetensors(testdata("safetensors/samples/sample_overall.safetensors").string());
  ASSERT_EQ(all->tensors().size(), 9u);
  for (const char* name : {"B", "H", "I", "b", "d", "e", "f", "h", "i"})
    expect_sample_tensor(*all, name);
}

TEST(SafetensorsReader, CanonicalExample) {
  auto src = open_safetensors(testdata("safetensors/canonical_example.safetensors").string());
  std::vector<std::string> names;
  for (const auto& t : src->tensors()) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"b.weight", "a.alpha", "d.f8", "c.idx"}));
  EXPECT_EQ(src->tensors()[0].file_offset, 8u + 280u);
  EXPECT_EQ(values_of<float>(src->view("b.weight")), (std::vector<float>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(values_of<uint16_t>(src->view("a.alpha")),
            (std::vector<uint16_t>{0x3F80, 0x4000, 0x4040, 0x4080}));
  EXPECT_EQ(bytes_of(src->view("d.f8")), (std::vector<uint8_t>{0x38, 0x7e}));
  EXPECT_EQ(bytes_of(src->view("c.idx")), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(src->find("d.f8")->dtype, DType::F8_E4M3);
  EXPECT_EQ(src->find("a.alpha")->shape, (std::vector<uint64_t>{4}));
  ASSERT_EQ(src->metadata().size(), 1u);
  EXPECT_EQ(src->metadata()[0].key, "format");
  EXPECT_EQ(std::get<std::string>(src->metadata()[0].value.value), "pt");
  EXPECT_EQ(src->find("nope"), nullptr);
  EXPECT_THROW(src->view("nope"), InvalidArgument);
}

TEST(SafetensorsReader, AcceptedEdgeCases) {
  auto open = [](const char* f) {
    return open_safetensors(testdata(std::string("safetensors/cases/") + f).string());
  };
  {
    auto s = open("ok_unicode_escaped_name");
    ASSERT_EQ(s->tensors().size(), 1u);
    EXPECT_EQ(s->tensors()[0].name, std::string("a\0b", 3));
    EXPECT_NE(s->find(std::string_view("a\0b", 3)), nullptr);
    EXPECT_EQ(s->find("a"), nullptr);
  }
  {
    auto s = open("ok_tensor_named_empty_string");
    ASSERT_NE(s->find(""), nullptr);
  }
  {
    auto s = open("ok_metadata_null");
    EXPECT_TRUE(s->metadata().empty());
  }
  {
    auto s = open("ok_scalar_shape_empty");
    const auto& t = s->tensors().at(0);
    EXPECT_TRUE(t.shape.empty());
    EXPECT_EQ(t.elements, 1u);
    EXPECT_EQ(t.nbytes, 4u);
  }
  {
    // Zero-size tensors share an offset; ties keep their JSON order.
    auto s = open("ok_two_zero_sized_same_offset");
    ASSERT_EQ(s->tensors().size(), 3u);
    EXPECT_EQ(s->tensors()[0].name, "a");
    EXPECT_EQ(s->tensors()[1].name, "b");
    EXPECT_EQ(s->tensors()[2].name, "c");
    EXPECT_EQ(s->tensors()[0].nbytes, 0u);
    EXPECT_TRUE(s->view("a").bytes.empty());
  }
  {
    auto s = open("ok_f4_even_elements");
    EXPECT_EQ(s->tensors()[0].elements, 4u);
    EXPECT_EQ(s->tensors()[0].nbytes, 2u);
  }
  {
    auto s = open("ok_f6_4_elements");
    EXPECT_EQ(s->tensors()[0].dtype, DType::F6_E3M2);
    EXPECT_EQ(s->tensors()[0].nbytes, 3u);
  }
  {
    auto s = open("ok_zero_sized_tensor");
    EXPECT_EQ(s->tensors()[0].shape, (std::vector<uint64_t>{2, 0}));
    EXPECT_EQ(s->tensors()[0].elements, 0u);
  }
}

TEST(SafetensorsReader, KeysOutOfOffsetOrderComeInDataOrder) {
  const std::string h = R"({"z":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                        R"("y":{"dtype":"U8","shape":[2],"data_offsets":[3,5]},)"
                        R"("x":{"dtype":"U8","shape":[2],"data_offsets":[1,3]}})";
  TempDir dir;
  lorakit::testing::write_file(dir / "a", st_file(h, "\x01\x02\x03\x04\x05"));
  auto s = open_safetensors((dir / "a").string());
  ASSERT_EQ(s->tensors().size(), 3u);
  EXPECT_EQ(s->tensors()[0].name, "z");
  EXPECT_EQ(s->tensors()[1].name, "x");
  EXPECT_EQ(s->tensors()[2].name, "y");
  EXPECT_EQ(bytes_of(s->view("y")), (std::vector<uint8_t>{4, 5}));
  EXPECT_EQ(s->tensors()[2].file_offset, 8 + h.size() + 3);
}

// Rules of §1.4 beyond the corpus.
TEST(SafetensorsReader, StrictGrammar) {
  auto T = [](const std::string& extra) {
    return R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1])" + extra + "}}";
  };
  // Unknown fields are ignored, however they look, as long as the nesting stays within the grammar.
  EXPECT_EQ(verdict_of(st_file(T(R"(,"x":{"y":[1,2]})"), "A")), "bad_schema");
  EXPECT_EQ(verdict_of(st_file(T(R"(,"x":{"y":1},"z":[true,null,"s"])"), "A")), "");
  EXPECT_EQ(verdict_of(st_file(T(R"(,"x":[[1]])"), "A")), "bad_schema");
  // Duplicates inside a tensor entry, known or unknown fields.
  EXPECT_EQ(verdict_of(st_file(T(R"(,"dtype":"U8")"), "A")), "duplicate_key");
  EXPECT_EQ(verdict_of(st_file(T(R"(,"x":1,"x":1)"), "A")), "duplicate_key");
  EXPECT_EQ(verdict_of(st_file(T(R"(,"x":{"k":1,"k":2})"), "A")), "duplicate_key");
  // Shape and offset items must be u64 integers.
  std::string msg;
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":[-0],"data_offsets":[0,0]}})"), &msg),
            "bad_shape");
  EXPECT_NE(msg.find("is -0;"), std::string::npos) << msg;
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1.0]}})", "A")),
            "bad_shape");
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,"1"]}})", "A")),
            "bad_shape");
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":[[1]],"data_offsets":[0,1]}})", "A")),
            "bad_shape");
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,-1]}})", "A")),
            "bad_shape");
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", "A")),
            "bad_schema");
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":8,"shape":[1],"data_offsets":[0,1]}})", "A")),
            "bad_schema");
  EXPECT_EQ(verdict_of(st_file(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":{}}})", "A")),
            "bad_schema");
  EXPECT_EQ(verdict_of(st_file(R"({"a":null})")), "bad_schema");
  EXPECT_EQ(verdict_of(st_file("5")), "bad_schema");
  EXPECT_EQ(verdict_of(st_file("null")), "bad_schema");
  // u64 max parses, then its bit count overflows.
  EXPECT_EQ(
      verdict_of(st_file(
          R"({"a":{"dtype":"U8","shape":[18446744073709551615],"data_offsets":[0,1]}})", "A")),
      "shape_overflow");
  // __metadata__ must be null or an object of strings.
  EXPECT_EQ(verdict_of(st_file(R"({"__metadata__":["a"]})")), "bad_metadata");
  EXPECT_EQ(verdict_of(st_file(R"({"__metadata__":{"a":null}})")), "bad_metadata");
  EXPECT_EQ(verdict_of(st_file(R"({"__metadata__":{"a":["x"]}})")), "bad_metadata");
  EXPECT_EQ(verdict_of(st_file(R"({"__metadata__":5})")), "bad_metadata");
  EXPECT_EQ(verdict_of(st_file(R"({"__metadata__":null,"__metadata__":null})")), "duplicate_key");
  // JSON syntax: raw control characters, a NUL in the middle, JSON whitespace only.
  EXPECT_EQ(verdict_of(st_file("{\"a\x01\":1}")), "bad_json");
  EXPECT_EQ(verdict_of(st_file(std::string("{}\0 ", 4))), "bad_json");
  EXPECT_EQ(verdict_of(st_file(std::string(" {\0}", 4))), "bad_json");
  EXPECT_EQ(verdict_of(st_file("\t\r\n {} \r\n\t")), "");
  EXPECT_EQ(verdict_of(st_file("{}\f")), "bad_json");
  EXPECT_EQ(verdict_of(st_file("{\"__metadata__\":null")), "bad_json");
  // UTF-8 is validated strictly: overlong forms, surrogates, code points above U+10FFFF.
  EXPECT_EQ(verdict_of(st_file("{\"\xC0\x80\":1}")), "bad_utf8");
  EXPECT_EQ(verdict_of(st_file("{\"\xED\xA0\x80\":1}")), "bad_utf8");
  EXPECT_EQ(verdict_of(st_file("{\"\xF4\x90\x80\x80\":1}")), "bad_utf8");
  EXPECT_EQ(verdict_of(st_file("{\"\xE2\x82\":1}")), "bad_utf8");
  EXPECT_EQ(verdict_of(st_file(R"({"__metadata__":{"\u00e9\u20ac\ud83d\ude00":"é€😀"}})")), "");
}

TEST(SafetensorsReader, DuplicateNamesAreFoundAmongMany) {
  // Many entries sharing one offset range (the reference's attacks/ scripts): rejected without
  // allocating anything in proportion to their sizes.
  std::string h = "{";
  for (int i = 0; i < 20000; ++i) {
    if (i) h += ',';
    h += "\"t" + std::to_string(i) + R"(":{"dtype":"F32","shape":[1000000,1000000],)" +
         R"("data_offsets":[0,4000000000000]})";
  }
  h += "}";
  std::string msg;
  EXPECT_EQ(verdict_of(st_file(h), &msg), "bad_offsets");
  // The same name twice among many, far apart.
  std::string d = "{";
  for (int i = 0; i < 5000; ++i) {
    if (i) d += ',';
    d += "\"t" + std::to_string(i == 4999 ? 17 : i) + R"(":{"dtype":"U8","shape":[1],)" +
         R"("data_offsets":[)" + std::to_string(i) + "," + std::to_string(i + 1) + "]}";
  }
  d += "}";
  EXPECT_EQ(verdict_of(st_file(d, std::string(5000, 'x')), &msg), "duplicate_key");
  EXPECT_NE(msg.find("\"t17\""), std::string::npos) << msg;
}

TEST(SafetensorsReader, LengthLimits) {
  // N = 100,000,000 passes the limit (and then runs past this short file); N + 1 does not.
  std::string n_eq(8, '\0');
  const uint64_t limit = 100'000'000;
  for (int i = 0; i < 8; ++i)
    n_eq[static_cast<size_t>(i)] = static_cast<char>((limit >> (8 * i)) & 0xFF);
  EXPECT_EQ(verdict_of(n_eq + "{}"), "header_past_eof");
  EXPECT_EQ(verdict_of(std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8)), "header_past_eof");
  EXPECT_EQ(verdict_of(std::string("\x00\x00\x00\x00\x00\x00\x00\x00", 8)), "bad_json");
  EXPECT_EQ(verdict_of(std::string(8, '\xff')), "header_too_large");
  EXPECT_EQ(verdict_of(""), "header_too_small");
}

TEST(SafetensorsReader, UnalignedDataIsServedInPlace) {
  // N = 61: the data starts at byte 69, and the view points right into the mapping.
  const std::string h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string padded = h + std::string(61 - h.size(), ' ');
  float vals[2] = {1.5f, -2.25f};
  std::string data(reinterpret_cast<const char*>(vals), 8);
  TempDir dir;
  lorakit::testing::write_file(dir / "u", st_file(padded, data));
  auto s = open_safetensors((dir / "u").string());
  TensorView v = s->view("w");
  EXPECT_EQ(v.bytes.data(), s->files()[0]->bytes().data() + 69);
  EXPECT_EQ(values_of<float>(v), (std::vector<float>{1.5f, -2.25f}));
  // A caller's copy of the info is checked against the mapping.
  TensorInfo copy = s->tensors()[0];
  copy.nbytes = 1000;
  EXPECT_THROW(s->view(copy), InvalidArgument);
  copy = s->tensors()[0];
  copy.file_index = 3;
  EXPECT_THROW(s->view(copy), InvalidArgument);
}

TEST(SafetensorsReader, MissingFileIsIoError) {
  TempDir dir;
  EXPECT_THROW(open_safetensors((dir / "absent.safetensors").string()), IoError);
  EXPECT_THROW(open_tensor_source((dir / "absent.safetensors").string()), IoError);
}

}  // namespace
}  // namespace lorakit::io
