// GGUF reader (file-formats.md §2.5, §2.6, §3.3). The header is walked front to back; every count
// and length is checked against the bytes left before it is used, so a hostile file fails with a
// FormatError before anything is allocated for it. Tensor data is never copied: views point into
// the mapping.
#include "io/gguf_reader.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <limits>

#include "io/gguf_format.hpp"

namespace lorakit::io {

class GgufParser {
 public:
  explicit GgufParser(GgufSource& src) : src_(src), bytes_(src.file_.bytes()) {}

  void run() {
    read_preamble();
    read_metadata();
    read_alignment();
    read_tensor_infos();
    check_layout();
    apply_orig_shapes();
  }

 private:
  static constexpr uint64_t kInt64Max = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  static constexpr uint64_t kReserveCap = 4096;

  struct RawInfo {
    uint64_t at = 0;  // byte offset of the tensor info
    uint64_t offset_at = 0;
    uint64_t offset = 0;
  };

  [[noreturn]] void fail(std::string_view category, std::string message) const {
    throw FormatError(src_.path_, std::string(category), std::move(message));
  }

  uint64_t left() const { return bytes_.size() - pos_; }

  // `what` names the field in the message, e.g. "the tensor count".
  void need(uint64_t n, std::string_view what) const {
    if (n > left())
      fail("truncated",
           fmt::format("{} at byte {} needs {} bytes, but the file ends {} bytes later", what, pos_,
                       n, left()));
  }

  uint64_t read_uint(unsigned size, std::string_view what) {
    need(size, what);
    uint64_t v = 0;
    for (unsigned k = 0; k < size; ++k)
      v |= static_cast<uint64_t>(std::to_integer<uint8_t>(bytes_[pos_ + k])) << (8 * k);
    pos_ += size;
    return v;
  }
  uint8_t u8(std::string_view what) { return static_cast<uint8_t>(read_uint(1, what)); }
  uint32_t u32(std::string_view what) { return static_cast<uint32_t>(read_uint(4, what)); }
  uint64_t u64(std::string_view what) { return read_uint(8, what); }

  // A GGUF string: u64 length, then that many bytes.
  std::string_view str(std::string_view what) {
    uint64_t at = pos_;
    if (left() < 8)
      need(8, fmt::format("the length of {}", what));  // message built only on failure
    uint64_t len = u64(what);
    if (len > left())
      fail("truncated",
           fmt::format("{} at byte {}: length {} runs past the end of the file ({} bytes left)",
                       what, at, len, left()));
    std::string_view s(reinterpret_cast<const char*>(bytes_.data() + pos_), len);
    pos_ += len;
    return s;
  }

  // ---- header ------------------------------------------------------------------------------

  void read_preamble() {
    if (bytes_.size() < gguf::kMagic.size()) {
      std::string_view got(reinterpret_cast<const char*>(bytes_.data()), bytes_.size());
      if (gguf::kMagic.substr(0, got.size()) == got)
        fail("truncated", fmt::format("the file is {} bytes long; the magic \"GGUF\" alone takes 4",
                                      bytes_.size()));
      fail("bad_magic", "bytes 0..3 are not the magic \"GGUF\"");
    }
    std::string_view magic(reinterpret_cast<const char*>(bytes_.data()), 4);
    if (magic != gguf::kMagic) {
      std::string shown;
      for (char c : magic)
        shown += (c >= 0x20 && c < 0x7F) ? std::string(1, c)
                                         : fmt::format("\\x{:02x}", static_cast<unsigned char>(c));
      fail("bad_magic", fmt::format("magic \"{}\" at byte 0; expected \"GGUF\"", shown));
    }
    pos_ = 4;
    uint32_t version = u32("the version");
    if (version == 0) fail("bad_version", "version 0 at byte 4; expected 2 or 3");
    // A byte-swapped file reads as version << 24: small versions have their low 16 bits zero.
    if ((version & 0xFFFF) == 0)
      fail("wrong_endianness",
           fmt::format("version field at byte 4 reads {:#010x}: a big-endian (byte-swapped) file; "
                       "only little-endian GGUF is supported",
                       version));
    if (version != 2 && version != 3)
      fail("bad_version", fmt::format("version {} at byte 4; expected 2 or 3{}", version,
                                      version == 1 ? " (GGUF v1 is obsolete)" : ""));
    src_.version_ = version;

    n_tensors_ = u64("the tensor count");
    n_kv_ = u64("the key-value count");
    if (n_tensors_ > kInt64Max)
      fail("bad_count", fmt::format("tensor count {} at byte 8 is negative as int64", n_tensors_));
    if (n_kv_ > kInt64Max)
      fail("bad_count", fmt::format("key-value count {} at byte 16 is negative as int64", n_kv_));
    // The smallest possible encodings of the declared entries must fit in what is left (checked
    // arithmetic: the products alone can exceed 64 bits).
    uint64_t kv_min = 0, ti_min = 0, min = 0;
    if (__builtin_mul_overflow(n_kv_, gguf::kMinKvBytes, &kv_min) ||
        __builtin_mul_overflow(n_tensors_, gguf::kMinTensorInfoBytes, &ti_min) ||
        __builtin_add_overflow(kv_min, ti_min, &min) || min > left())
      fail("truncated",
           fmt::format("the header declares {} key-value pairs and {} tensors, which take at least "
                       "{} and {} bytes each, but the file ends {} bytes after byte {}",
                       n_kv_, n_tensors_, gguf::kMinKvBytes, gguf::kMinTensorInfoBytes, left(),
                       pos_));
  }

  // ---- metadata ----------------------------------------------------------------------------

  void read_metadata() {
    // Counts are bounded by the file size, but an entry in memory is larger than its encoding; cap
    // what is reserved up front and let real content grow the vectors.
    src_.metadata_.reserve(std::min(n_kv_, kReserveCap));
    for (uint64_t i = 0; i < n_kv_; ++i) {
      uint64_t at = pos_;
      std::string_view key = str(fmt::format("key #{}", i));
      if (key.empty())
        fail("empty_key", fmt::format("key #{} at byte {} is empty; expected a name", i, at));
      if (!gguf::is_valid_utf8(key))
        fail("bad_utf8", fmt::format("key #{} at byte {} is not valid UTF-8", i, at));
      std::string k(key);
      if (src_.metadata_index_.count(k))
        fail("duplicate_key", fmt::format("key '{}' at byte {} appears twice", k, at));
      uint64_t type_at = pos_;
      uint32_t type = u32(fmt::format("the value type of key '{}'", k));
      if (type > gguf::kMaxValueType)
        fail("bad_value_type",
             fmt::format("key '{}': value type {} at byte {}; expected 0..12", k, type, type_at));
      GgufValue v =
          read_value(static_cast<GgufType>(type), k, fmt::format("the value of key '{}'", k));
      src_.metadata_index_.emplace(k, src_.metadata_.size());
      kv_offsets_.push_back(at);
      src_.metadata_.push_back(MetadataEntry{std::move(k), std::move(v)});
    }
  }

  // `what` names the value in messages ("the value of key 'x'"); array elements share it.
  GgufValue read_value(GgufType t, const std::string& key, const std::string& what,
                       bool in_array = false) {
    GgufValue v;
    v.type = t;
    uint64_t at = pos_;
    switch (t) {
      case GgufType::U8:
      case GgufType::U16:
      case GgufType::U32:
      case GgufType::U64:
        v.value = read_uint(static_cast<unsigned>(gguf::scalar_size(t)), what);
        break;
      case GgufType::I8:
        v.value = static_cast<int64_t>(static_cast<int8_t>(read_uint(1, what)));
        break;
      case GgufType::I16:
        v.value = static_cast<int64_t>(static_cast<int16_t>(read_uint(2, what)));
        break;
      case GgufType::I32:
        v.value = static_cast<int64_t>(static_cast<int32_t>(read_uint(4, what)));
        break;
      case GgufType::I64:
        v.value = static_cast<int64_t>(read_uint(8, what));
        break;
      case GgufType::F32:
        v.value =
            static_cast<double>(std::bit_cast<float>(static_cast<uint32_t>(read_uint(4, what))));
        break;
      case GgufType::F64:
        v.value = std::bit_cast<double>(read_uint(8, what));
        break;
      case GgufType::BOOL: {
        uint8_t b = u8(what);
        if (b > 1)
          fail("bad_bool",
               fmt::format("key '{}': BOOL byte at {} is {}; expected 0 or 1", key, at, b));
        v.value = b == 1;
        break;
      }
      case GgufType::STRING: {
        std::string_view s = str(what);
        if (s.size() > gguf::kMaxStringBytes)
          fail("bad_string",
               fmt::format("key '{}': string at byte {} is {} bytes; at most {} allowed", key, at,
                           s.size(), gguf::kMaxStringBytes));
        v.value = std::string(s);
        break;
      }
      case GgufType::ARRAY: {
        if (in_array)  // unreachable: the element type is checked below; kept for safety
          fail("nested_array", fmt::format("key '{}': nested array at byte {}", key, at));
        uint32_t et = u32(fmt::format("the element type of key '{}'", key));
        if (et == static_cast<uint32_t>(GgufType::ARRAY))
          fail("nested_array",
               fmt::format("key '{}': array of arrays at byte {}; nested arrays are not supported",
                           key, at));
        if (et > gguf::kMaxValueType)
          fail("bad_value_type", fmt::format("key '{}': array element type {} at byte {}; expected "
                                             "0..12 other than 9 (ARRAY)",
                                             key, et, at));
        auto etype = static_cast<GgufType>(et);
        uint64_t count_at = pos_;
        uint64_t n = u64(fmt::format("the element count of key '{}'", key));
        uint64_t min = gguf::min_element_size(etype);
        if (n > left() / min)
          fail("truncated",
               fmt::format(
                   "key '{}': array of {} {} at byte {} needs at least {} bytes per element, "
                   "but the file ends {} bytes later",
                   key, n, gguf::type_name(etype), count_at, min, left()));
        if (n > gguf::kMaxArrayElements)
          fail("bad_count",
               fmt::format("key '{}': array of {} elements at byte {}; at most {} allowed", key, n,
                           count_at, gguf::kMaxArrayElements));
        GgufArray arr;
        arr.reserve(std::min(n, kReserveCap));
        for (uint64_t i = 0; i < n; ++i) arr.push_back(read_value(etype, key, what, true));
        v.array_type = etype;
        v.value = std::move(arr);
        break;
      }
    }
    return v;
  }

  void read_alignment() {
    src_.alignment_ = gguf::kDefaultAlignment;
    auto it = src_.metadata_index_.find(gguf::kAlignmentKey);
    if (it == src_.metadata_index_.end()) return;
    const GgufValue& v = src_.metadata_[it->second].value;
    uint64_t at = kv_offsets_[it->second];
    if (v.type != GgufType::U32)
      fail("bad_alignment", fmt::format("key 'general.alignment' at byte {} is {}; expected U32",
                                        at, gguf::type_name(v.type)));
    uint64_t a = std::get<uint64_t>(v.value);
    if (!gguf::is_power_of_two(a))
      fail("bad_alignment",
           fmt::format("key 'general.alignment' at byte {} is {}; expected a power "
                       "of two",
                       at, a));
    src_.alignment_ = static_cast<uint32_t>(a);
  }

  // ---- tensor infos ------------------------------------------------------------------------

  void read_tensor_infos() {
    src_.tensors_.reserve(std::min(n_tensors_, kReserveCap));
    raw_.reserve(std::min(n_tensors_, kReserveCap));
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      RawInfo raw;
      raw.at = pos_;
      std::string_view name_view = str(fmt::format("the name of tensor #{}", i));
      if (name_view.size() > gguf::kReaderMaxNameBytes)
        fail("bad_name", fmt::format("tensor #{} at byte {}: name of {} bytes; at most {} allowed",
                                     i, raw.at, name_view.size(), gguf::kReaderMaxNameBytes));
      if (!gguf::is_valid_utf8(name_view))
        fail("bad_utf8",
             fmt::format("tensor #{} at byte {}: the name is not valid UTF-8", i, raw.at));
      TensorInfo info;
      info.name = std::string(name_view);
      const std::string& name = info.name;
      if (src_.tensor_index_.count(name))
        fail("duplicate_tensor", fmt::format("tensor '{}' at byte {} appears twice", name, raw.at));

      uint64_t dims_at = pos_;
      uint32_t n_dims = u32(fmt::format("n_dims of tensor '{}'", name));
      // Bound n_dims by the bytes left before looking at its value (a huge n_dims is a truncation).
      if (uint64_t{n_dims} * 8 > left())
        fail(
            "truncated",
            fmt::format("tensor '{}': n_dims = {} at byte {} needs {} bytes of dimensions, but the "
                        "file ends {} bytes later",
                        name, n_dims, dims_at, uint64_t{n_dims} * 8, left()));
      if (n_dims == 0 || n_dims > gguf::kMaxDims)
        fail("bad_dims", fmt::format("tensor '{}': n_dims = {} at byte {}; expected 1..{}", name,
                                     n_dims, dims_at, gguf::kMaxDims));
      std::vector<uint64_t> ne(n_dims);
      for (uint32_t d = 0; d < n_dims; ++d) {
        uint64_t at = pos_;
        ne[d] = u64("a dimension");
        if (ne[d] > kInt64Max)
          fail("bad_dims", fmt::format("tensor '{}': ne[{}] = {} at byte {} is negative", name, d,
                                       static_cast<int64_t>(ne[d]), at));
      }
      // Checked product. Zero dimensions are set aside so that the other dimensions still have to
      // multiply without overflow (strides computed downstream must not wrap either).
      uint64_t elements = 1;
      bool has_zero = false;
      for (uint64_t d : ne) {
        if (d == 0) {
          has_zero = true;
          continue;
        }
        if (__builtin_mul_overflow(elements, d, &elements) || elements > kInt64Max)
          fail("size_overflow",
               fmt::format("tensor '{}' at byte {}: the element count of ne {} overflows int64",
                           name, raw.at, fmt::join(ne, ", ")));
      }
      if (has_zero) elements = 0;

      uint64_t type_at = pos_;
      uint32_t type_id = u32(fmt::format("the type of tensor '{}'", name));
      std::optional<DType> dtype = dtype_from_ggml_id(type_id);
      if (!dtype)
        fail(
            "unknown_type",
            fmt::format("tensor '{}': type id {} at byte {} is not a ggml type (removed ids: 4, 5, "
                        "31-33, 36-38; valid ids below 43)",
                        name, type_id, type_at));
      const auto& tr = traits(*dtype);
      if (ne[0] % tr.block_elements != 0)
        fail("block_mismatch",
             fmt::format("tensor '{}': ne[0] = {} at byte {} is not a multiple of the {}-element "
                         "block of {}",
                         name, ne[0], dims_at + 4, tr.block_elements, tr.name));
      std::optional<uint64_t> nbytes = bytes_for(*dtype, elements);
      if (!nbytes || *nbytes > kInt64Max)
        fail("size_overflow", fmt::format("tensor '{}' at byte {}: the byte size of {} {} elements "
                                          "overflows int64",
                                          name, raw.at, elements, tr.name));
      raw.offset_at = pos_;
      raw.offset = u64(fmt::format("the data offset of tensor '{}'", name));

      info.dtype = *dtype;
      info.storage_shape.assign(ne.rbegin(), ne.rend());
      info.shape = info.storage_shape;
      info.elements = elements;
      info.nbytes = *nbytes;
      src_.tensor_index_.emplace(info.name, src_.tensors_.size());
      src_.tensors_.push_back(std::move(info));
      raw_.push_back(raw);
    }
  }

  // ---- data section ------------------------------------------------------------------------

  void check_layout() {
    const uint64_t header_end = pos_;
    const uint64_t align = src_.alignment_;
    const uint64_t size = bytes_.size();
    // ggml pads before the data only when there are tensors (§2.1).
    uint64_t data_start = header_end;
    if (!src_.tensors_.empty()) data_start = *gguf::align_up(header_end, align);  // < 2^63 + 2^32
    src_.data_start_ = data_start;

    // Offsets must be exactly where the previous tensor's padded end puts them (§2.5).
    uint64_t expected = 0;
    for (size_t i = 0; i < src_.tensors_.size(); ++i) {
      const TensorInfo& t = src_.tensors_[i];
      const RawInfo& raw = raw_[i];
      if (raw.offset % align != 0)
        fail("bad_offsets",
             fmt::format("tensor '{}': offset {} at byte {} is not a multiple of the "
                         "alignment {}",
                         t.name, raw.offset, raw.offset_at, align));
      if (raw.offset != expected)
        fail("bad_offsets",
             fmt::format("tensor '{}': offset {} at byte {}; expected {} (tensors packed in "
                         "tensor-info order, each padded to {})",
                         t.name, raw.offset, raw.offset_at, expected, align));
      std::optional<uint64_t> padded = gguf::align_up(t.nbytes, align);
      if (!padded || __builtin_add_overflow(expected, *padded, &expected))
        fail("size_overflow",
             fmt::format("tensor '{}': the data section size overflows 64 bits", t.name));
    }

    // Every tensor inside the file (checked arithmetic: offsets come from the file).
    if (!src_.tensors_.empty() && data_start > size)
      fail("data_truncated", fmt::format("the data section starts at byte {} but the file is {} "
                                         "bytes long",
                                         data_start, size));
    uint64_t data_end = data_start;
    for (size_t i = 0; i < src_.tensors_.size(); ++i) {
      TensorInfo& t = src_.tensors_[i];
      uint64_t begin = 0, end = 0;
      if (__builtin_add_overflow(data_start, raw_[i].offset, &begin) ||
          __builtin_add_overflow(begin, t.nbytes, &end) || end > size)
        fail(
            "data_truncated",
            fmt::format("tensor '{}': {} bytes at offset {} (byte {}) run past the end of the file "
                        "({} bytes)",
                        t.name, t.nbytes, raw_[i].offset, data_start + raw_[i].offset, size));
      t.file_offset = begin;
      data_end = end;
    }

    // The bytes the alignment skips before the data must be zero; with the size check above this
    // catches an alignment key that disagrees with the layout (§2.6).
    for (uint64_t p = header_end; p < data_start; ++p)
      if (bytes_[p] != std::byte{0})
        fail("bad_padding", fmt::format("padding byte {} before the data section (bytes {}..{}) is "
                                        "not zero; the alignment {} may not match the layout",
                                        p, header_end, data_start - 1, align));

    // Padding between tensors (and after the last one, when present) should be zero too.
    for (size_t i = 0; i < src_.tensors_.size(); ++i) {
      const TensorInfo& t = src_.tensors_[i];
      uint64_t end = t.file_offset + t.nbytes;
      uint64_t next = i + 1 < src_.tensors_.size() ? src_.tensors_[i + 1].file_offset
                                                   : std::min(size, *gguf::align_up(end, align));
      for (uint64_t p = end; p < next; ++p)
        if (bytes_[p] != std::byte{0}) {
          src_.warnings_.push_back(
              fmt::format("tensor '{}': the padding after its data (bytes {}..{}) is not all zero",
                          t.name, end, next - 1));
          break;
        }
    }
    uint64_t padded_end = data_end;
    if (!src_.tensors_.empty()) padded_end = std::min(size, *gguf::align_up(data_end, align));
    src_.trailing_bytes_ = size - padded_end;
  }

  // ComfyUI-GGUF's `comfy.gguf.orig_shape.<name>`: the logical shape, which must be an ARRAY of
  // INT32 with the stored element count (§3.3).
  void apply_orig_shapes() {
    for (TensorInfo& t : src_.tensors_) {
      std::string key = std::string(gguf::kOrigShapePrefix) + t.name;
      auto it = src_.metadata_index_.find(key);
      if (it == src_.metadata_index_.end()) continue;
      const GgufValue& v = src_.metadata_[it->second].value;
      uint64_t at = kv_offsets_[it->second];
      if (v.type != GgufType::ARRAY || v.array_type != GgufType::I32)
        fail("bad_orig_shape",
             fmt::format("key '{}' at byte {} is {}; expected ARRAY of I32", key, at,
                         v.type == GgufType::ARRAY
                             ? fmt::format("ARRAY of {}", gguf::type_name(v.array_type))
                             : std::string(gguf::type_name(v.type))));
      const auto& arr = std::get<GgufArray>(v.value);
      std::vector<uint64_t> shape;
      shape.reserve(arr.size());
      uint64_t product = 1;
      bool overflow = false;
      for (const GgufValue& d : arr) {
        int64_t x = std::get<int64_t>(d.value);
        if (x < 0)
          fail("bad_orig_shape",
               fmt::format("key '{}' at byte {}: dimension {} is negative", key, at, x));
        shape.push_back(static_cast<uint64_t>(x));
        overflow |= __builtin_mul_overflow(product, static_cast<uint64_t>(x), &product);
      }
      if (overflow || product != t.elements)
        fail("bad_orig_shape",
             fmt::format("key '{}' at byte {}: shape [{}] does not hold the {} elements of tensor "
                         "'{}' (stored shape [{}])",
                         key, at, fmt::join(shape, ", "), t.elements, t.name,
                         fmt::join(t.storage_shape, ", ")));
      t.shape = std::move(shape);
    }
  }

  GgufSource& src_;
  std::span<const std::byte> bytes_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
  std::vector<uint64_t> kv_offsets_;
  std::vector<RawInfo> raw_;
};

std::unique_ptr<GgufSource> GgufSource::open(const std::string& path) {
  std::unique_ptr<GgufSource> src(new GgufSource());
  src->path_ = path;
  src->file_ = MappedFile::open(path);
  GgufParser(*src).run();
  return src;
}

const TensorInfo* GgufSource::find(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

TensorView GgufSource::view(std::string_view name) const {
  const TensorInfo* info = find(name);
  if (!info) throw InvalidArgument(fmt::format("{}: no tensor named '{}'", path_, name));
  return TensorView{info, file_.bytes().subspan(info->file_offset, info->nbytes)};
}

TensorView GgufSource::view(const TensorInfo& info) const {
  // An info of this source is used as is; one from elsewhere is looked up by name.
  std::less<const TensorInfo*> before;
  if (!tensors_.empty() && !before(&info, tensors_.data()) &&
      before(&info, tensors_.data() + tensors_.size()))
    return TensorView{&info, file_.bytes().subspan(info.file_offset, info.nbytes)};
  return view(info.name);
}

const GgufValue* GgufSource::find_metadata(std::string_view key) const {
  auto it = metadata_index_.find(key);
  return it == metadata_index_.end() ? nullptr : &metadata_[it->second].value;
}

std::unique_ptr<TensorSource> open_gguf(const std::string& path) { return GgufSource::open(path); }

}  // namespace lorakit::io
