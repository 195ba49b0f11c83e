#include "io/safetensors_layout.hpp"

#include <algorithm>
#include <cstdint>

#include "io/safetensors_header.hpp"
#include "io/safetensors_json.hpp"

namespace lorakit::io {
namespace {

void check_utf8(const std::string& dest, std::string_view what, std::string_view s) {
  // The reader rejects a header that is not UTF-8, so the writer must never produce one.
  if (find_invalid_utf8(s) != std::string_view::npos)
    throw InvalidArgument(dest + ": " + std::string(what) + " is not valid UTF-8");
}

void append_u64(std::string& out, uint64_t v) { out += std::to_string(v); }

}  // namespace

SafetensorsLayout plan_safetensors(
    const std::string& dest, const std::vector<TensorDecl>& tensors,
    const std::optional<std::map<std::string, std::string>>& metadata) {
  SafetensorsLayout layout;
  layout.tensors.reserve(tensors.size());
  for (const TensorDecl& d : tensors) {
    const std::string ref = "tensor " + json_quote(d.name);
    check_utf8(dest, ref + " name", d.name);
    if (d.name == "__metadata__")
      throw InvalidArgument(dest + ": \"__metadata__\" is reserved and cannot name a tensor");
    const DTypeTraits& tr = traits(d.dtype);
    if (!tr.in_safetensors)
      throw InvalidArgument(dest + ": " + ref + ": dtype " + std::string(tr.name) +
                            " cannot be stored in safetensors");
    uint64_t count = 1;
    for (uint64_t dim : d.shape)
      if (__builtin_mul_overflow(count, dim, &count))
        throw InvalidArgument(dest + ": " + ref + ": shape has more elements than fit in 64 bits");
    const uint64_t bits_per_element = uint64_t{tr.block_bytes} * 8 / tr.block_elements;
    uint64_t bits = 0;
    if (__builtin_mul_overflow(count, bits_per_element, &bits))
      throw InvalidArgument(dest + ": " + ref + ": size overflows 64 bits");
    if (bits % 8 != 0)
      throw InvalidArgument(dest + ": " + ref + ": " + std::to_string(count) + " elements of " +
                            std::string(tr.name) + " are not a whole number of bytes");
    layout.tensors.push_back(PlannedTensor{d.name, d.dtype, d.shape, 0, bits / 8});
  }

  // §1.6 items 1-2: dtype descending in the §1.2 order (which DType's enum follows), then name.
  std::sort(layout.tensors.begin(), layout.tensors.end(),
            [](const PlannedTensor& a, const PlannedTensor& b) {
              if (a.dtype != b.dtype) return a.dtype > b.dtype;
              return a.name < b.name;  // std::string compares bytes as unsigned char
            });
  // A name must be unique across dtypes too, so check in name order.
  {
    std::vector<const std::string*> names;
    names.reserve(layout.tensors.size());
    for (const auto& t : layout.tensors) names.push_back(&t.name);
    std::sort(names.begin(), names.end(), [](auto* a, auto* b) { return *a < *b; });
    for (size_t i = 1; i < names.size(); ++i)
      if (*names[i - 1] == *names[i])
        throw InvalidArgument(dest + ": tensor " + json_quote(*names[i]) + " declared twice");
  }
  uint64_t offset = 0;
  for (PlannedTensor& t : layout.tensors) {
    const uint64_t size = t.end;
    t.begin = offset;
    if (__builtin_add_overflow(offset, size, &offset))
      throw InvalidArgument(dest + ": the tensors hold more bytes than fit in 64 bits");
    t.end = offset;
  }
  layout.data_size = offset;

  // §1.6 item 3: compact JSON.
  std::string h = "{";
  const std::map<std::string, std::string> default_metadata{{"format", "pt"}};
  const auto& meta = metadata ? *metadata : default_metadata;
  if (!meta.empty()) {
    h += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : meta) {  // std::map: byte-wise sorted keys
      check_utf8(dest, "metadata key " + json_quote(k), k);
      check_utf8(dest, "metadata value of " + json_quote(k), v);
      if (!first) h += ',';
      first = false;
      append_json_quoted(h, k);
      h += ':';
      append_json_quoted(h, v);
    }
    h += '}';
  }
  for (const PlannedTensor& t : layout.tensors) {
    if (h.size() > 1) h += ',';
    append_json_quoted(h, t.name);
    h += ":{\"dtype\":\"";
    h += name(t.dtype);
    h += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) h += ',';
      append_u64(h, t.shape[i]);
    }
    h += "],\"data_offsets\":[";
    append_u64(h, t.begin);
    h += ',';
    append_u64(h, t.end);
    h += "]}";
  }
  h += '}';
  // §1.6 item 5: spaces up to a multiple of 8, so the data starts 8-aligned.
  h.append((8 - h.size() % 8) % 8, ' ');
  if (h.size() > kMaxSafetensorsHeader)
    throw FormatError(dest, "header_too_large",
                      "the header would be " + std::to_string(h.size()) +
                          " bytes, more than the 100,000,000 a safetensors reader accepts");

  // Offsets within the file are off_t for pwrite/ftruncate: the whole file must fit in int64.
  constexpr uint64_t kMaxFile = static_cast<uint64_t>(INT64_MAX);
  if (layout.data_size > kMaxFile - 8 - h.size())
    throw InvalidArgument(dest + ": the tensors hold " + std::to_string(layout.data_size) +
                          " bytes, more than a file can hold");
  layout.prefix.reserve(8 + h.size());
  uint64_t n = h.size();
  for (int i = 0; i < 8; ++i) layout.prefix.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  layout.prefix += h;
  return layout;
}

}  // namespace lorakit::io
