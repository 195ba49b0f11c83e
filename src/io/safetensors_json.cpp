#include "io/safetensors_json.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "lorakit/error.hpp"

namespace lorakit::io {

size_t find_invalid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The ranges of RFC 3629 §4: the second byte's range excludes overlong forms (E0, F0),
    // surrogates (ED) and code points above U+10FFFF (F4).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c == 0xE0) {
      len = 3;
      lo = 0xA0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = 3;
    } else if (c == 0xED) {
      len = 3;
      hi = 0x9F;
    } else if (c == 0xF0) {
      len = 4;
      lo = 0x90;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = 4;
    } else if (c == 0xF4) {
      len = 4;
      hi = 0x8F;
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

void append_json_quoted(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case 0x08:
        out.append("\\b");
        break;
      case 0x0C:
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        if (c < 0x20) {
          out.append("\\u00");
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 0xF]);
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

std::string json_quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  append_json_quoted(out, s);
  return out;
}

nlohmann::ordered_json parse_json_document(std::string_view text, const std::string& file) {
  using json = nlohmann::ordered_json;
  if (size_t bad = find_invalid_utf8(text); bad != std::string_view::npos)
    throw FormatError(file, "bad_utf8", "not valid UTF-8 at byte " + std::to_string(bad));
  // nlohmann's lexer silently skips a leading BOM and stops at a NUL byte as if the text ended
  // there; JSON allows neither.
  if (text.starts_with("\xEF\xBB\xBF"))
    throw FormatError(file, "bad_json", "invalid JSON: starts with a byte order mark");
  if (size_t nul = text.find('\0'); nul != std::string_view::npos)
    throw FormatError(file, "bad_json", "invalid JSON: NUL byte at byte " + std::to_string(nul));

  // One set of seen keys per open object: duplicate keys are an error at every level, where
  // nlohmann would silently keep one of them.
  std::vector<std::set<std::string>> open;
  json::parser_callback_t cb = [&](int /*depth*/, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
        open.emplace_back();
        break;
      case json::parse_event_t::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        if (!open.back().insert(k).second)
          throw FormatError(file, "duplicate_key", "key " + json_quote(k) + " appears twice");
        break;
      }
      case json::parse_event_t::object_end:
        open.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true,
                       /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    std::string what = e.what();
    // Drop nlohmann's "[json.exception.parse_error.101] " prefix; the rest says where and why.
    if (size_t close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
    throw FormatError(file, "bad_json", "invalid JSON: " + what);
  }
}

std::string read_small_file(const std::string& path, uint64_t limit) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw IoError(path + ": not a readable regular file");
  }
  if (static_cast<uint64_t>(st.st_size) > limit) {
    ::close(fd);
    throw FormatError(path, "too_large",
                      "file is " + std::to_string(st.st_size) + " bytes, more than the " +
                          std::to_string(limit) + " allowed for this kind of file");
  }
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = errno;
      ::close(fd);
      throw IoError(path + ": read failed: " + (n == 0 ? "file shrank" : std::strerror(e)));
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

}  // namespace lorakit::io
