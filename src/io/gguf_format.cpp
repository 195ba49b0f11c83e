#include "io/gguf_format.hpp"

namespace lorakit::io::gguf {

std::string_view type_name(GgufType t) {
  switch (t) {
    case GgufType::U8:
      return "U8";
    case GgufType::I8:
      return "I8";
    case GgufType::U16:
      return "U16";
    case GgufType::I16:
      return "I16";
    case GgufType::U32:
      return "U32";
    case GgufType::I32:
      return "I32";
    case GgufType::F32:
      return "F32";
    case GgufType::BOOL:
      return "BOOL";
    case GgufType::STRING:
      return "STRING";
    case GgufType::ARRAY:
      return "ARRAY";
    case GgufType::U64:
      return "U64";
    case GgufType::I64:
      return "I64";
    case GgufType::F64:
      return "F64";
  }
  return "?";
}

uint64_t scalar_size(GgufType t) {
  switch (t) {
    case GgufType::U8:
    case GgufType::I8:
    case GgufType::BOOL:
      return 1;
    case GgufType::U16:
    case GgufType::I16:
      return 2;
    case GgufType::U32:
    case GgufType::I32:
    case GgufType::F32:
      return 4;
    case GgufType::U64:
    case GgufType::I64:
    case GgufType::F64:
      return 8;
    case GgufType::STRING:
    case GgufType::ARRAY:
      return 0;
  }
  return 0;
}

uint64_t min_element_size(GgufType t) {
  if (t == GgufType::STRING) return 8;
  if (t == GgufType::ARRAY) return 4 + 8;
  return scalar_size(t);
}

bool is_valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;  // a continuation byte where a sequence should start, or 0xF8..0xFF
    }
    if (n - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool is_quantized(DType t) {
  const auto& tr = traits(t);
  return tr.ggml_id >= 0 && tr.block_elements > 1;
}

std::optional<uint64_t> align_up(uint64_t x, uint64_t alignment) {
  uint64_t sum = 0;
  if (__builtin_add_overflow(x, alignment - 1, &sum)) return std::nullopt;
  return sum & ~(alignment - 1);
}

}  // namespace lorakit::io::gguf
