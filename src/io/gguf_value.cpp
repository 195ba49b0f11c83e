// Rendering GGUF metadata values as compact JSON-like text for `inspect` output and error messages.
#include <fmt/format.h>

#include <string>

#include "io/gguf_format.hpp"
#include "lorakit/io.hpp"

namespace lorakit::io {
namespace {

// JSON string escaping, except that bytes which are not valid UTF-8 become \xNN: GGUF string values
// are not required to be UTF-8 and the output must stay printable and unambiguous.
void append_quoted(std::string& out, const std::string& s) {
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
      if (len > 1 && i + len <= s.size() &&
          gguf::is_valid_utf8(std::string_view(s).substr(i, len))) {
        out.append(s, i, len);
        i += len;
      } else {
        out += fmt::format("\\x{:02x}", c);
        ++i;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F)
          out += fmt::format("\\u{:04x}", c);
        else
          out.push_back(static_cast<char>(c));
    }
    ++i;
  }
  out.push_back('"');
}

// Shortest text that reads back to the same number, with ".0" kept on integral values so that a
// float never looks like an integer.
std::string float_text(double d, bool single) {
  std::string s = single ? fmt::format("{}", static_cast<float>(d)) : fmt::format("{}", d);
  if (s.find_first_not_of("-0123456789") == std::string::npos) s += ".0";
  return s;
}

void append_value(std::string& out, const GgufValue& v, size_t max_items) {
  switch (v.type) {
    case GgufType::U8:
    case GgufType::U16:
    case GgufType::U32:
    case GgufType::U64:
    case GgufType::I8:
    case GgufType::I16:
    case GgufType::I32:
    case GgufType::I64:
      if (const auto* u = std::get_if<uint64_t>(&v.value))
        out += fmt::format("{}", *u);
      else if (const auto* i = std::get_if<int64_t>(&v.value))
        out += fmt::format("{}", *i);
      else
        out += "?";
      return;
    case GgufType::F32:
    case GgufType::F64:
      if (const auto* d = std::get_if<double>(&v.value))
        out += float_text(*d, v.type == GgufType::F32);
      else
        out += "?";
      return;
    case GgufType::BOOL:
      if (const auto* b = std::get_if<bool>(&v.value))
        out += *b ? "true" : "false";
      else
        out += "?";
      return;
    case GgufType::STRING:
      if (const auto* s = std::get_if<std::string>(&v.value))
        append_quoted(out, *s);
      else
        out += "?";
      return;
    case GgufType::ARRAY: {
      const auto* a = std::get_if<GgufArray>(&v.value);
      if (!a) {
        out += "?";
        return;
      }
      out.push_back('[');
      size_t shown = std::min(a->size(), max_items);
      for (size_t i = 0; i < shown; ++i) {
        if (i) out += ", ";
        append_value(out, (*a)[i], max_items);
      }
      if (shown < a->size()) out += fmt::format("{}... ({} items)", shown ? ", " : "", a->size());
      out.push_back(']');
      return;
    }
  }
  out += "?";
}

}  // namespace

std::string to_string(const GgufValue& v, size_t max_items) {
  std::string out;
  append_value(out, v, max_items);
  return out;
}

}  // namespace lorakit::io
