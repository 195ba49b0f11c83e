// Small string helpers for walking dotted tensor names ("input_blocks.4.1.proj_in").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lorakit::model::detail {

// If `s` starts with `head`, drops it and returns true.
inline bool consume(std::string_view& s, std::string_view head) {
  if (!s.starts_with(head)) return false;
  s.remove_prefix(head.size());
  return true;
}

// Reads a decimal block index at the front of `s` (no sign, no leading '+'), followed by '.' or the
// end; consumes the digits and the dot. Indices are small, so anything above 1e6 is rejected.
inline std::optional<uint32_t> consume_index(std::string_view& s) {
  size_t n = 0;
  uint32_t v = 0;
  while (n < s.size() && s[n] >= '0' && s[n] <= '9') {
    if (n >= 6) return std::nullopt;
    v = v * 10 + static_cast<uint32_t>(s[n] - '0');
    ++n;
  }
  if (n == 0 || (n < s.size() && s[n] != '.')) return std::nullopt;
  s.remove_prefix(n < s.size() ? n + 1 : n);
  return v;
}

// head + n + tail, e.g. ("input_blocks.", 4, ".1.proj_in") -> "input_blocks.4.1.proj_in".
inline std::string fmt_block(std::string_view head, uint64_t n, std::string_view tail) {
  std::string r(head);
  r += std::to_string(n);
  r += tail;
  return r;
}

inline std::string cat(std::string_view a, std::string_view b) {
  std::string r(a);
  r += b;
  return r;
}

}  // namespace lorakit::model::detail
