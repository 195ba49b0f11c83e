// Helpers for the codec tests: typed reads of the shared test data and bit-level comparisons that
// report how many elements differ and where the first difference is.
#pragma once

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace lorakit::testing {

inline std::vector<float> read_f32(const std::filesystem::path& p) {
  const std::vector<std::byte> b = read_file(p);
  std::vector<float> out(b.size() / 4);
  std::memcpy(out.data(), b.data(), out.size() * 4);
  return out;
}

inline uint32_t bits(float f) { return std::bit_cast<uint32_t>(f); }
inline float from_bits(uint32_t u) { return std::bit_cast<float>(u); }
inline uint32_t parse_hex(const std::string& s) {
  return static_cast<uint32_t>(std::stoul(s, nullptr, 16));
}

inline std::string hex(uint64_t v) {
  std::ostringstream o;
  o << "0x" << std::hex << v;
  return o.str();
}

// Byte-for-byte equality with a count of differing bytes and the first differing offset.
inline ::testing::AssertionResult same_bytes(const std::vector<std::byte>& got,
                                             const std::vector<std::byte>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  }
  size_t diffs = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i] != want[i] && diffs++ == 0) first = i;
  }
  if (diffs == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << diffs << " of " << got.size() << " bytes differ; first at offset " << first << ": got "
         << hex(static_cast<uint8_t>(got[first])) << ", want "
         << hex(static_cast<uint8_t>(want[first]));
}

// Bit-for-bit equality of float arrays (NaNs included).
inline ::testing::AssertionResult same_bits(const std::vector<float>& got,
                                            const std::vector<float>& want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << " != " << want.size();
  }
  size_t diffs = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (bits(got[i]) != bits(want[i]) && diffs++ == 0) first = i;
  }
  if (diffs == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << diffs << " of " << got.size() << " elements differ; first at " << first << ": got "
         << hex(bits(got[first])) << " (" << got[first] << "), want " << hex(bits(want[first]))
         << " (" << want[first] << ")";
}

}  // namespace lorakit::testing
