// The header is parsed with nlohmann's SAX interface rather than into a DOM so that every rule of
// the grammar (file-formats.md §1.3 item 5, §1.4) is checked while reading, with the tensor or key
// at hand for the message: duplicate keys, nesting depth, and shape/offset items that must be u64
// integers (nlohmann reports negative numbers, fractions, exponents and integers >= 2^64 through
// other callbacks than number_unsigned, which is what makes the integer rule exact).
#include "io/safetensors_header.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>
#include <string_view>
#include <utility>

#include "io/safetensors_json.hpp"

namespace lorakit::io {
namespace {

using json = nlohmann::json;

std::string shape_text(const std::vector<uint64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string range_text(uint64_t begin, uint64_t end) {
  return "[" + std::to_string(begin) + "," + std::to_string(end) + "]";
}

const std::string& dtype_names() {
  static const std::string names = [] {
    std::string s;
    for (const auto& t : all_dtypes()) {
      if (!t.in_safetensors) continue;
      if (!s.empty()) s += ", ";
      s += t.name;
    }
    return s;
  }();
  return names;
}

// A tensor entry as read, before the offset rules are applied.
struct Entry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<uint64_t> shape;
  uint64_t offsets[2] = {0, 0};
  uint8_t seen = 0;  // kDtype | kShape | kOffsets
};
constexpr uint8_t kDtype = 1, kShape = 2, kOffsets = 4;

// The grammar is object → tensor object → array, so the parse never holds more than three open
// containers; anything deeper is rejected.
constexpr size_t kMaxDepth = 3;

enum class Ctx : uint8_t { Top, Metadata, Tensor, Shape, Offsets, Ignored };
enum class Field : uint8_t { Dtype, Shape, Offsets, Extra };
enum class Kind : uint8_t { Null, Bool, Negative, Unsigned, Float, String, Object, Array };

struct Frame {
  Ctx ctx;
  uint64_t items = 0;          // items so far (Shape, Offsets)
  std::set<std::string> keys;  // keys so far of objects whose keys are free-form (extra fields)
};

std::string describe(Kind k) {
  switch (k) {
    case Kind::Null:
      return "null";
    case Kind::Bool:
      return "a boolean";
    case Kind::Negative:
      return "a negative number";
    case Kind::Unsigned:
      return "a number";
    case Kind::Float:
      return "a non-integer number";
    case Kind::String:
      return "a string";
    case Kind::Object:
      return "an object";
    case Kind::Array:
      return "an array";
  }
  return "a value";
}

class HeaderSax final : public json::json_sax_t {
 public:
  bool null() override { return value(Kind::Null); }
  bool boolean(bool) override { return value(Kind::Bool); }
  bool number_integer(number_integer_t v) override {
    // nlohmann hands non-negative integers to number_unsigned; this one is negative (or "-0").
    return value(Kind::Negative, 0, nullptr, v == 0 ? "-0" : std::to_string(v));
  }
  bool number_unsigned(number_unsigned_t v) override { return value(Kind::Unsigned, v); }
  bool number_float(number_float_t, const string_t& raw) override {
    return value(Kind::Float, 0, nullptr, raw);
  }
  bool string(string_t& s) override { return value(Kind::String, 0, &s); }
  bool binary(binary_t&) override { return fail("bad_json", "binary value in a JSON header"); }
  bool start_object(std::size_t) override { return value(Kind::Object); }
  bool start_array(std::size_t) override { return value(Kind::Array); }
  bool key(string_t& k) override;
  bool end_object() override;
  bool end_array() override;
  bool parse_error(std::size_t pos, const std::string&, const json::exception& e) override {
    if (!failed()) {
      std::string what = e.what();
      if (size_t close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
      fail("bad_json",
           "header is not valid JSON (near header byte " + std::to_string(pos) + "): " + what);
    }
    return false;
  }

  bool failed() const { return !category_.empty(); }
  const std::string& category() const { return category_; }
  const std::string& message() const { return message_; }
  std::vector<Entry>& entries() { return entries_; }
  std::vector<MetadataEntry>& metadata() { return metadata_; }

 private:
  bool value(Kind k, uint64_t u = 0, std::string* s = nullptr, const std::string& raw = {});
  bool item(Kind k, uint64_t u, const std::string& raw);
  bool push(Ctx c) {
    if (stack_.size() >= kMaxDepth)
      return fail("bad_schema", where() +
                                    "JSON nested deeper than the header grammar allows "
                                    "(object → tensor object → array)");
    stack_.push_back(Frame{c, 0, {}});
    return true;
  }
  bool fail(std::string category, std::string message) {
    category_ = std::move(category);
    message_ = std::move(message);
    return false;
  }
  std::string tensor_ref() const { return "tensor " + json_quote(entries_.back().name); }
  // "tensor "x": " when inside a tensor entry, else nothing.
  std::string where() const {
    for (const auto& f : stack_)
      if (f.ctx == Ctx::Tensor) return tensor_ref() + ": ";
    return "";
  }

  std::vector<Frame> stack_;
  std::vector<Entry> entries_;
  std::vector<MetadataEntry> metadata_;
  bool metadata_seen_ = false;
  bool top_is_metadata_ = false;  // the last top-level key was "__metadata__"
  Field field_ = Field::Extra;    // the field whose value comes next inside a tensor entry
  std::string meta_key_;
  std::string category_, message_;
};

bool HeaderSax::value(Kind k, uint64_t u, std::string* s, const std::string& raw) {
  if (stack_.empty()) {
    if (k == Kind::Object) return push(Ctx::Top);
    return fail("bad_schema", "header must be a JSON object, found " + describe(k));
  }
  switch (stack_.back().ctx) {
    case Ctx::Top:
      if (top_is_metadata_) {
        if (k == Kind::Null) return true;
        if (k == Kind::Object) return push(Ctx::Metadata);
        return fail(
            "bad_metadata",
            "\"__metadata__\" must be an object of strings (or null), found " + describe(k));
      }
      if (k == Kind::Object) return push(Ctx::Tensor);
      return fail("bad_schema", tensor_ref() +
                                    ": entry must be an object {\"dtype\", \"shape\", "
                                    "\"data_offsets\"}, found " +
                                    describe(k));
    case Ctx::Metadata:
      if (k != Kind::String)
        return fail("bad_metadata", "\"__metadata__\" key " + json_quote(meta_key_) +
                                        ": value must be a string, found " + describe(k));
      metadata_.push_back(MetadataEntry{std::move(meta_key_), {}});
      metadata_.back().value.type = GgufType::STRING;
      metadata_.back().value.value = std::move(*s);
      return true;
    case Ctx::Tensor:
      switch (field_) {
        case Field::Dtype: {
          if (k != Kind::String)
            return fail("bad_schema",
                        tensor_ref() + ": \"dtype\" must be a string, found " + describe(k));
          auto t = dtype_from_safetensors_name(*s);
          if (!t)
            return fail("unknown_dtype", tensor_ref() + ": unknown dtype " + json_quote(*s) +
                                             " (expected one of " + dtype_names() +
                                             "; names are case-sensitive)");
          entries_.back().dtype = *t;
          return true;
        }
        case Field::Shape:
          if (k == Kind::Array) return push(Ctx::Shape);
          return fail("bad_schema", tensor_ref() +
                                        ": \"shape\" must be an array of non-negative integers, "
                                        "found " +
                                        describe(k));
        case Field::Offsets:
          if (k == Kind::Array) return push(Ctx::Offsets);
          return fail("bad_schema", tensor_ref() +
                                        ": \"data_offsets\" must be an array [BEGIN, END], found " +
                                        describe(k));
        case Field::Extra:  // unknown fields are ignored, as by the reference
          if (k == Kind::Object || k == Kind::Array) return push(Ctx::Ignored);
          return true;
      }
      return true;
    case Ctx::Shape:
    case Ctx::Offsets:
      return item(k, u, raw);
    case Ctx::Ignored:
      if (k == Kind::Object || k == Kind::Array) return push(Ctx::Ignored);
      return true;
  }
  return true;
}

// One item of "shape" or "data_offsets".
bool HeaderSax::item(Kind k, uint64_t u, const std::string& raw) {
  Frame& f = stack_.back();
  const bool shape = f.ctx == Ctx::Shape;
  const char* field = shape ? "\"shape\"" : "\"data_offsets\"";
  if (k != Kind::Unsigned) {
    std::string what = describe(k);
    if (k == Kind::Float || k == Kind::Negative) {
      // nlohmann turns an integer >= 2^64 into a float; say so rather than "non-integer".
      bool integral = raw.find_first_of(".eE") == std::string::npos;
      what = (integral && k == Kind::Float) ? raw + ", which does not fit in 64 bits" : raw;
    }
    return fail("bad_shape", tensor_ref() + ": " + field + " item " + std::to_string(f.items) +
                                 " is " + what + "; expected a non-negative integer below 2^64");
  }
  Entry& e = entries_.back();
  if (shape) {
    e.shape.push_back(u);
  } else {
    if (f.items >= 2)
      return fail(
          "bad_schema",
          tensor_ref() + ": \"data_offsets\" must hold exactly 2 items [BEGIN, END], found more");
    e.offsets[f.items] = u;
  }
  ++f.items;
  return true;
}

bool HeaderSax::key(string_t& k) {
  Frame& f = stack_.back();
  switch (f.ctx) {
    case Ctx::Top:
      if (k == "__metadata__") {
        if (metadata_seen_) return fail("duplicate_key", "\"__metadata__\" appears twice");
        metadata_seen_ = true;
        top_is_metadata_ = true;
      } else {
        top_is_metadata_ = false;
        entries_.emplace_back();
        entries_.back().name = std::move(k);
      }
      return true;
    case Ctx::Metadata:
      meta_key_ = std::move(k);  // duplicates are found after the parse, by sorting
      return true;
    case Ctx::Tensor: {
      uint8_t bit = 0;
      if (k == "dtype") {
        bit = kDtype;
        field_ = Field::Dtype;
      } else if (k == "shape") {
        bit = kShape;
        field_ = Field::Shape;
      } else if (k == "data_offsets") {
        bit = kOffsets;
        field_ = Field::Offsets;
      } else {
        field_ = Field::Extra;
        if (!f.keys.insert(k).second)
          return fail("duplicate_key",
                      tensor_ref() + ": field " + json_quote(k) + " appears twice");
        return true;
      }
      Entry& e = entries_.back();
      if (e.seen & bit)
        return fail("duplicate_key", tensor_ref() + ": field " + json_quote(k) + " appears twice");
      e.seen |= bit;
      return true;
    }
    case Ctx::Ignored:
      if (!f.keys.insert(k).second)
        return fail("duplicate_key", where() + "key " + json_quote(k) + " appears twice");
      return true;
    case Ctx::Shape:
    case Ctx::Offsets:
      break;  // arrays have no keys
  }
  return true;
}

bool HeaderSax::end_object() {
  Ctx c = stack_.back().ctx;
  stack_.pop_back();
  if (c == Ctx::Tensor) {
    const Entry& e = entries_.back();
    const char* missing = !(e.seen & kDtype)     ? "\"dtype\""
                          : !(e.seen & kShape)   ? "\"shape\""
                          : !(e.seen & kOffsets) ? "\"data_offsets\""
                                                 : nullptr;
    if (missing) return fail("bad_schema", tensor_ref() + ": missing field " + missing);
  }
  return true;
}

bool HeaderSax::end_array() {
  const Frame& f = stack_.back();
  if (f.ctx == Ctx::Offsets && f.items != 2)
    return fail("bad_schema", tensor_ref() +
                                  ": \"data_offsets\" must hold exactly 2 items [BEGIN, END], "
                                  "found " +
                                  std::to_string(f.items));
  stack_.pop_back();
  return true;
}

// Sorting instead of hashing while parsing: O(n log n) whatever the names, and no per-key node.
template <typename Key>
const std::string* find_duplicate(size_t n, Key key) {
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return key(a) < key(b); });
  for (size_t i = 1; i < n; ++i)
    if (key(order[i - 1]) == key(order[i])) return &key(order[i]);
  return nullptr;
}

}  // namespace

SafetensorsHeader parse_safetensors(std::span<const std::byte> file, const std::string& path) {
  auto bad = [&](const char* category, std::string message) {
    return FormatError(path, category, std::move(message));
  };
  const uint64_t size = file.size();
  if (size < 8)
    throw bad("header_too_small", "file is " + std::to_string(size) +
                                      " bytes, shorter than the 8-byte header length prefix");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(file[static_cast<size_t>(i)]);
  if (n > kMaxSafetensorsHeader)
    throw bad("header_too_large", "header length " + std::to_string(n) + " exceeds the limit of " +
                                      std::to_string(kMaxSafetensorsHeader) + " bytes");
  if (n > size - 8)
    throw bad("header_past_eof", "header length " + std::to_string(n) +
                                     " runs past the end of the file (8 + " + std::to_string(n) +
                                     " > " + std::to_string(size) + " bytes)");

  const std::string_view text(reinterpret_cast<const char*>(file.data()) + 8, n);
  if (size_t b = find_invalid_utf8(text); b != std::string_view::npos) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto c = static_cast<unsigned char>(text[b]);
    throw bad("bad_utf8", std::string("header is not valid UTF-8 (byte 0x") + kHex[c >> 4] +
                              kHex[c & 0xF] + " at header byte " + std::to_string(b) + ")");
  }
  // nlohmann skips a leading BOM and treats a NUL byte as the end of the text; JSON allows neither
  // (a NUL can only appear escaped, inside a string), so both are rejected up front.
  if (text.starts_with("\xEF\xBB\xBF"))
    throw bad("bad_json", "header is not valid JSON: it starts with a UTF-8 byte order mark");
  if (size_t z = text.find('\0'); z != std::string_view::npos)
    throw bad("bad_json", "header is not valid JSON: NUL byte at header byte " + std::to_string(z) +
                              " (pad with spaces, not NULs)");

  HeaderSax sax;
  if (!json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json,
                       /*strict=*/true, /*ignore_comments=*/false)) {
    if (!sax.failed()) throw bad("bad_json", "header is not valid JSON");
    throw FormatError(path, sax.category(), sax.message());
  }
  std::vector<Entry>& entries = sax.entries();
  std::vector<MetadataEntry>& metadata = sax.metadata();

  // Stricter than the reference, which lets the last of two equal keys win (§1.4).
  if (const std::string* dup = find_duplicate(
          entries.size(), [&](uint32_t i) -> const std::string& { return entries[i].name; }))
    throw bad("duplicate_key", "tensor " + json_quote(*dup) + " appears twice in the header");
  if (const std::string* dup = find_duplicate(
          metadata.size(), [&](uint32_t i) -> const std::string& { return metadata[i].key; }))
    throw bad("duplicate_key", "\"__metadata__\" key " + json_quote(*dup) + " appears twice");

  // The reference's Metadata::validate: walk the tensors in (BEGIN, END) order; each begins where
  // the previous one ended, then its shape must describe exactly its bytes.
  std::vector<uint32_t> order(entries.size());
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    const Entry& x = entries[a];
    const Entry& y = entries[b];
    return std::pair(x.offsets[0], x.offsets[1]) < std::pair(y.offsets[0], y.offsets[1]);
  });
  uint64_t end_so_far = 0;
  const Entry* prev = nullptr;
  std::vector<uint64_t> elements(entries.size());
  for (uint32_t idx : order) {
    const Entry& e = entries[idx];
    const uint64_t begin = e.offsets[0], end = e.offsets[1];
    const std::string ref = "tensor " + json_quote(e.name) + ": ";
    if (end < begin)
      throw bad("bad_offsets",
                ref + "data_offsets " + range_text(begin, end) + " end before they begin");
    if (begin != end_so_far) {
      std::string why = prev ? "the previous tensor in data order, " + json_quote(prev->name) +
                                   ", ends at " + std::to_string(end_so_far)
                             : std::string("the first tensor in data order must begin at 0");
      throw bad("bad_offsets", ref + "data_offsets " + range_text(begin, end) + " begin at " +
                                   std::to_string(begin) + ", but " + why +
                                   " (tensors must be packed with no hole or overlap)");
    }
    end_so_far = end;
    prev = &e;

    const DTypeTraits& tr = traits(e.dtype);
    uint64_t count = 1;
    for (uint64_t d : e.shape)
      if (__builtin_mul_overflow(count, d, &count))
        throw bad("shape_overflow",
                  ref + "shape " + shape_text(e.shape) + " has more elements than fit in 64 bits");
    const uint64_t bits_per_element = uint64_t{tr.block_bytes} * 8 / tr.block_elements;
    uint64_t bits = 0;
    if (__builtin_mul_overflow(count, bits_per_element, &bits))
      throw bad("shape_overflow", ref + std::string(tr.name) + " " + shape_text(e.shape) +
                                      " holds more bits than fit in 64 bits");
    if (bits % 8 != 0)
      throw bad("misaligned_subbyte",
                ref + std::string(tr.name) + " " + shape_text(e.shape) + " is " +
                    std::to_string(bits) + " bits, not a whole number of bytes (" +
                    std::string(tr.name) + " needs an element count that is a multiple of " +
                    std::to_string(8 / std::gcd(bits_per_element, uint64_t{8})) + ")");
    if (end - begin != bits / 8)
      throw bad("size_mismatch", ref + "data_offsets " + range_text(begin, end) + " hold " +
                                     std::to_string(end - begin) + " bytes, but " +
                                     std::string(tr.name) + " " + shape_text(e.shape) + " needs " +
                                     std::to_string(bits / 8));
    elements[idx] = count;
  }

  const uint64_t data_start = 8 + n;
  const uint64_t data_len = size - data_start;
  if (end_so_far != data_len) {
    if (end_so_far < data_len)
      throw bad("incomplete_coverage",
                "the data section holds " + std::to_string(data_len) +
                    " bytes, but the tensors end at " + std::to_string(end_so_far) + ": " +
                    std::to_string(data_len - end_so_far) +
                    " trailing bytes (the file must end exactly where the last tensor ends)");
    throw bad("incomplete_coverage", "tensor " + json_quote(prev->name) + " ends at data byte " +
                                         std::to_string(end_so_far) +
                                         ", but the data section holds only " +
                                         std::to_string(data_len) + " bytes (" +
                                         std::to_string(end_so_far - data_len) + " missing)");
  }

  SafetensorsHeader out;
  out.header_len = n;
  out.data_start = data_start;
  out.tensors.reserve(entries.size());
  for (uint32_t idx : order) {
    Entry& e = entries[idx];
    TensorInfo t;
    t.name = std::move(e.name);
    t.dtype = e.dtype;
    t.storage_shape = e.shape;
    t.shape = std::move(e.shape);
    t.elements = elements[idx];
    t.nbytes = e.offsets[1] - e.offsets[0];
    t.file_offset = data_start + e.offsets[0];  // <= file size, checked above
    t.file_index = 0;
    out.tensors.push_back(std::move(t));
  }
  out.metadata = std::move(metadata);
  return out;
}

}  // namespace lorakit::io
