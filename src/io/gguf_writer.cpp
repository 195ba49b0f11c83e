// GGUF writer (file-formats.md §2.8). Everything is validated and the header is laid out in the
// constructor, so a bad declaration fails before any file exists; the header goes to disk first and
// tensor bytes follow at their final offsets, in any order, through an AtomicFile. Padding is never
// written: the temporary file is sized up front, and the bytes nobody writes read as zero.
#include <fmt/format.h>

#include <bit>
#include <limits>
#include <map>
#include <optional>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "io/tensor_data_file.hpp"
#include "io/gguf_format.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {
namespace {

constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

[[noreturn]] void invalid(const std::string& dest, const std::string& message) {
  throw InvalidArgument(dest + ": " + message);
}

// Little-endian serialisation of the header.
class HeaderBuffer {
 public:
  void u8(uint8_t v) { bytes_.push_back(static_cast<std::byte>(v)); }
  void uint(uint64_t v, unsigned size) {
    for (unsigned k = 0; k < size; ++k) u8(static_cast<uint8_t>(v >> (8 * k)));
  }
  void u32(uint32_t v) { uint(v, 4); }
  void u64(uint64_t v) { uint(v, 8); }
  void str(std::string_view s) {
    u64(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes_.insert(bytes_.end(), p, p + s.size());
  }
  std::vector<std::byte>& bytes() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

// Checks a value against its declared type and appends its encoding. Integers may come as either
// variant alternative as long as the number fits the declared type.
class ValueEncoder {
 public:
  ValueEncoder(const std::string& dest, HeaderBuffer& out) : dest_(dest), out_(out) {}

  void value(const std::string& key, const GgufValue& v) {
    if (static_cast<uint32_t>(v.type) > gguf::kMaxValueType)
      invalid(dest_, fmt::format("key '{}': value type {} is not a GGUF type (0..12)", key,
                                 static_cast<uint32_t>(v.type)));
    out_.u32(static_cast<uint32_t>(v.type));
    if (v.type != GgufType::ARRAY) return scalar(key, v.type, v);
    const auto* arr = std::get_if<GgufArray>(&v.value);
    if (!arr) invalid(dest_, fmt::format("key '{}': ARRAY value does not hold an array", key));
    if (v.array_type == GgufType::ARRAY)
      invalid(dest_, fmt::format("key '{}': nested arrays are not supported", key));
    if (static_cast<uint32_t>(v.array_type) > gguf::kMaxValueType)
      invalid(dest_, fmt::format("key '{}': array element type {} is not a GGUF type", key,
                                 static_cast<uint32_t>(v.array_type)));
    if (arr->size() > gguf::kMaxArrayElements)
      invalid(dest_, fmt::format("key '{}': {} array elements; readers accept at most {}", key,
                                 arr->size(), gguf::kMaxArrayElements));
    out_.u32(static_cast<uint32_t>(v.array_type));
    out_.u64(arr->size());
    for (size_t i = 0; i < arr->size(); ++i) {
      const GgufValue& e = (*arr)[i];
      if (e.type != v.array_type)
        invalid(dest_, fmt::format("key '{}': element {} is {} in an array of {}", key, i,
                                   gguf::type_name(e.type), gguf::type_name(v.array_type)));
      scalar(key, e.type, e);
    }
  }

 private:
  void scalar(const std::string& key, GgufType t, const GgufValue& v) {
    auto mismatch = [&](std::string_view holds) {
      invalid(dest_, fmt::format("key '{}': a {} value holds {}", key, gguf::type_name(t), holds));
    };
    switch (t) {
      case GgufType::U8:
      case GgufType::U16:
      case GgufType::U32:
      case GgufType::U64:
      case GgufType::I8:
      case GgufType::I16:
      case GgufType::I32:
      case GgufType::I64: {
        unsigned size = static_cast<unsigned>(gguf::scalar_size(t));
        bool is_signed =
            t == GgufType::I8 || t == GgufType::I16 || t == GgufType::I32 || t == GgufType::I64;
        uint64_t bits = 0;
        bool fits = false;
        if (const auto* u = std::get_if<uint64_t>(&v.value)) {
          uint64_t max = is_signed ? (uint64_t{1} << (8 * size - 1)) - 1
                                   : (size == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * size)) - 1);
          fits = *u <= max;
          bits = *u;
        } else if (const auto* i = std::get_if<int64_t>(&v.value)) {
          if (is_signed) {
            int64_t lim = size == 8 ? std::numeric_limits<int64_t>::max()
                                    : (int64_t{1} << (8 * size - 1)) - 1;
            fits = *i >= -lim - 1 && *i <= lim;
          } else {
            fits =
                *i >= 0 && (size == 8 || static_cast<uint64_t>(*i) < (uint64_t{1} << (8 * size)));
          }
          bits = static_cast<uint64_t>(*i);
        } else {
          return mismatch("no integer");
        }
        if (!fits)
          invalid(dest_, fmt::format("key '{}': {} does not fit in {}", key, to_string(v),
                                     gguf::type_name(t)));
        return out_.uint(bits, size);
      }
      case GgufType::F32:
      case GgufType::F64: {
        const auto* d = std::get_if<double>(&v.value);
        if (!d) return mismatch("no floating-point number");
        if (t == GgufType::F32) return out_.u32(std::bit_cast<uint32_t>(static_cast<float>(*d)));
        return out_.u64(std::bit_cast<uint64_t>(*d));
      }
      case GgufType::BOOL: {
        const auto* b = std::get_if<bool>(&v.value);
        if (!b) return mismatch("no bool");
        return out_.u8(*b ? 1 : 0);
      }
      case GgufType::STRING: {
        const auto* s = std::get_if<std::string>(&v.value);
        if (!s) return mismatch("no string");
        if (s->size() > gguf::kMaxStringBytes)
          invalid(dest_, fmt::format("key '{}': a string of {} bytes; readers accept at most {}",
                                     key, s->size(), gguf::kMaxStringBytes));
        return out_.str(*s);
      }
      case GgufType::ARRAY:
        break;
    }
    invalid(dest_, fmt::format("key '{}': unexpected value type {}", key, gguf::type_name(t)));
  }

  const std::string& dest_;
  HeaderBuffer& out_;
};

GgufValue u32_value(uint32_t v) {
  GgufValue out;
  out.type = GgufType::U32;
  out.value = uint64_t{v};
  return out;
}

}  // namespace

struct GgufWriter::Impl {
  using Slot = TensorDataFile::Region;

  std::string dest;
  std::vector<Slot> slots;
  std::vector<std::string> warnings;
  std::optional<TensorDataFile> data;

  void layout(std::vector<MetadataEntry> kv, std::vector<TensorDecl> tensors, uint32_t alignment);
};

void GgufWriter::Impl::layout(std::vector<MetadataEntry> kv, std::vector<TensorDecl> tensors,
                              uint32_t alignment) {
  if (!gguf::is_power_of_two(alignment))
    invalid(dest, fmt::format("alignment {} is not a power of two", alignment));

  // Tensors: names, types, shapes, sizes. Offsets are relative to the data section for now.
  bool quantized = false;
  std::unordered_map<std::string_view, size_t> names;  // name -> declaration
  std::vector<uint64_t> element_counts;
  slots.reserve(tensors.size());
  uint64_t offset = 0;
  for (const TensorDecl& t : tensors) {
    if (!gguf::is_valid_utf8(t.name))
      invalid(dest, fmt::format("tensor name '{}' is not valid UTF-8", t.name));
    if (t.name.size() > gguf::kWriterMaxNameBytes)
      invalid(dest,
              fmt::format("tensor '{}': the name is {} bytes; at most {} allowed (ComfyUI-GGUF's "
                          "limit)",
                          t.name, t.name.size(), gguf::kWriterMaxNameBytes));
    if (t.name.size() > gguf::kStockGgmlMaxNameBytes)
      warnings.push_back(
          fmt::format("tensor '{}': the name is {} bytes; stock ggml reads at most {}", t.name,
                      t.name.size(), gguf::kStockGgmlMaxNameBytes));
    if (!names.emplace(t.name, slots.size()).second)
      invalid(dest, fmt::format("tensor '{}' is declared twice", t.name));
    const auto& tr = traits(t.dtype);
    if (tr.ggml_id < 0)
      invalid(dest, fmt::format("tensor '{}': {} has no GGUF type", t.name, tr.name));
    if (t.shape.empty() || t.shape.size() > gguf::kMaxDims)
      invalid(dest, fmt::format("tensor '{}': {} dimensions; GGUF tensors have 1..{}", t.name,
                                t.shape.size(), gguf::kMaxDims));
    uint64_t elements = 1;
    bool has_zero = false;
    for (uint64_t d : t.shape) {
      if (d == 0) {
        has_zero = true;
        continue;
      }
      if (__builtin_mul_overflow(elements, d, &elements) || elements > kInt64Max)
        invalid(dest, fmt::format("tensor '{}': the element count overflows int64", t.name));
    }
    if (has_zero) elements = 0;
    if (t.shape.back() % tr.block_elements != 0)
      invalid(dest, fmt::format("tensor '{}': the last dimension {} is not a multiple of the "
                                "{}-element block of {}",
                                t.name, t.shape.back(), tr.block_elements, tr.name));
    std::optional<uint64_t> nbytes = bytes_for(t.dtype, elements);
    std::optional<uint64_t> padded = nbytes ? gguf::align_up(*nbytes, alignment) : std::nullopt;
    uint64_t next = 0;
    if (!padded || *nbytes > kInt64Max || __builtin_add_overflow(offset, *padded, &next) ||
        next > kInt64Max)
      invalid(dest, fmt::format("tensor '{}': the data size overflows", t.name));
    quantized |= gguf::is_quantized(t.dtype);
    element_counts.push_back(elements);
    slots.push_back(Slot{t.name, offset, *nbytes});
    offset = next;
  }
  const uint64_t data_size = offset;

  // Keys: unique, non-empty UTF-8; general.alignment only as the writer's own alignment; the
  // ComfyUI logical shape of a declared tensor must hold its element count (the reader checks it).
  std::unordered_set<std::string_view> keys;
  for (const MetadataEntry& e : kv) {
    if (e.key.empty()) invalid(dest, "a metadata key is empty");
    if (!gguf::is_valid_utf8(e.key))
      invalid(dest, fmt::format("metadata key '{}' is not valid UTF-8", e.key));
    if (!keys.insert(e.key).second)
      invalid(dest, fmt::format("metadata key '{}' is given twice", e.key));
    if (e.key == gguf::kAlignmentKey) {
      const auto* a = std::get_if<uint64_t>(&e.value.value);
      if (e.value.type != GgufType::U32 || !a || *a != alignment)
        invalid(dest, fmt::format("key 'general.alignment' = {} ({}) disagrees with the writer's "
                                  "alignment {}; pass the alignment as the argument instead",
                                  to_string(e.value), gguf::type_name(e.value.type), alignment));
    }
    auto named = e.key.starts_with(gguf::kOrigShapePrefix)
                     ? names.find(std::string_view(e.key).substr(gguf::kOrigShapePrefix.size()))
                     : names.end();
    if (named != names.end()) {
      const auto* arr = std::get_if<GgufArray>(&e.value.value);
      if (e.value.type != GgufType::ARRAY || e.value.array_type != GgufType::I32 || !arr)
        invalid(dest, fmt::format("key '{}' must be an ARRAY of I32", e.key));
      uint64_t product = 1;
      bool bad = false;
      for (const GgufValue& d : *arr) {
        const auto* x = std::get_if<int64_t>(&d.value);
        const auto* u = std::get_if<uint64_t>(&d.value);
        uint64_t dim = x ? static_cast<uint64_t>(*x) : u ? *u : 0;
        bad |= (!x && !u) || (x && *x < 0) || __builtin_mul_overflow(product, dim, &product);
      }
      uint64_t elements = element_counts[named->second];
      if (bad || product != elements)
        invalid(dest, fmt::format("key '{}': {} does not hold the {} elements of tensor '{}'",
                                  e.key, to_string(e.value), elements, named->first));
    }
  }
  // Decide both before appending: `keys` views strings that a reallocation of `kv` would move.
  const bool add_alignment =
      alignment != gguf::kDefaultAlignment && !keys.count(gguf::kAlignmentKey);
  const bool add_qversion = quantized && !keys.count(gguf::kQuantizationVersionKey);
  keys.clear();
  if (add_alignment)
    kv.push_back(MetadataEntry{std::string(gguf::kAlignmentKey), u32_value(alignment)});
  if (add_qversion)
    kv.push_back(MetadataEntry{std::string(gguf::kQuantizationVersionKey),
                               u32_value(gguf::kQuantizationVersion)});

  // Header: preamble, KV pairs in order, tensor infos in data order (ne = reversed shape).
  HeaderBuffer h;
  for (char c : gguf::kMagic) h.u8(static_cast<uint8_t>(c));
  h.u32(gguf::kVersion);
  h.u64(tensors.size());
  h.u64(kv.size());
  ValueEncoder enc(dest, h);
  for (const MetadataEntry& e : kv) {
    h.str(e.key);
    enc.value(e.key, e.value);
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorDecl& t = tensors[i];
    h.str(t.name);
    h.u32(static_cast<uint32_t>(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) h.u64(*it);
    h.u32(static_cast<uint32_t>(traits(t.dtype).ggml_id));
    h.u64(slots[i].file_offset);
  }
  uint64_t data_start = h.bytes().size();
  if (!tensors.empty()) data_start = *gguf::align_up(data_start, alignment);
  uint64_t total = 0;
  if (__builtin_add_overflow(data_start, data_size, &total) || total > kInt64Max)
    invalid(dest, "the file size overflows");
  for (Slot& s : slots) s.file_offset += data_start;

  // Only now does a file exist. Header first; the data section is a hole until written.
  data.emplace(dest, std::move(slots), h.bytes(), total,
               [](std::string_view n) {
                 std::string q(1, '\'');
                 q.append(n).push_back('\'');
                 return q;
               });
}

GgufWriter::GgufWriter(std::string dest, std::vector<MetadataEntry> kv,
                       std::vector<TensorDecl> tensors, uint32_t alignment)
    : impl_(std::make_unique<Impl>()) {
  impl_->dest = std::move(dest);
  impl_->layout(std::move(kv), std::move(tensors), alignment);
}

GgufWriter::~GgufWriter() = default;

const std::vector<std::string>& GgufWriter::warnings() const { return impl_->warnings; }

void GgufWriter::write(std::string_view name, std::span<const std::byte> data, uint64_t offset) {
  impl_->data->write(name, data, offset);
}

void GgufWriter::commit() { impl_->data->commit(); }

}  // namespace lorakit::io
