// Stochastic rounding onto the fp8 grids (file-formats.md §6.5, "stochastic"): the random stream is
// a SplitMix64 of the flat element index keyed by (user seed, CRC-32 of the tensor key), so the
// bytes depend only on (key, seed, values) — never on threads or tiling.
#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"

namespace lorakit::codec {
namespace {

struct Fp8Grid {
  int exp_bits, bias, mant_bits;
  double max_finite;
};

Fp8Grid grid_of(DType t) {
  if (t == DType::F8_E4M3) return {4, 7, 3, 448.0};
  if (t == DType::F8_E5M2) return {5, 15, 2, 57344.0};
  throw InvalidArgument("stochastic rounding needs an fp8 type (F8_E4M3 or F8_E5M2), not " +
                        std::string(name(t)));
}

// The uniform of §6.5 step 2 for flat index i.
double uniform_at(uint64_t seed64, uint64_t i) {
  uint64_t z = seed64 + (i + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z = z ^ (z >> 31);
  return static_cast<double>(z >> 40) * 0x1p-24;
}

// ⌊log₂ a⌋ from the binary32 representation (subnormals included).
int floor_log2(float a) {
  const uint32_t bits = std::bit_cast<uint32_t>(a);
  const int biased = static_cast<int>((bits >> 23) & 0xFF);
  if (biased != 0) return biased - 127;
  return -126 - std::countl_zero(bits & 0x7FFFFFu) + 9 - 1;
}

}  // namespace

uint32_t crc32(std::string_view bytes) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char ch : bytes) c = table[(c ^ ch) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

uint64_t stochastic_seed(std::string_view key, uint32_t user_seed) {
  return (static_cast<uint64_t>(user_seed) << 32) | crc32(key);
}

uint64_t encode_fp8_stochastic(DType t, const float* src, std::byte* dst, size_t n, uint64_t seed64,
                               uint64_t first_index) {
  const Fp8Grid g = grid_of(t);
  const int e_max = (1 << g.exp_bits) - 1;
  uint64_t saturated = 0;
  for (size_t k = 0; k < n; ++k) {
    const float x = src[k];
    const bool neg = std::signbit(x);
    double q;
    if (std::isnan(x)) {
      q = x;
    } else {
      const float a = std::fabs(x);
      if (a == 0.0f) {
        q = 0.0;
      } else if (std::isinf(a)) {
        q = g.max_finite;
        ++saturated;
      } else {
        const int e = std::clamp(floor_log2(a) + g.bias, 0, e_max);
        const int ulp_exp = (e >= 1 ? e : 1) - g.bias - g.mant_bits;
        const double ulp = std::ldexp(1.0, ulp_exp);
        q = std::floor(static_cast<double>(a) / ulp + uniform_at(seed64, first_index + k)) * ulp;
        if (q > g.max_finite) {
          q = g.max_finite;
          ++saturated;
        }
      }
      if (neg) q = -q;
    }
    // q lies on the grid (or is ±0 / NaN), so the nearest-even encoder stores it exactly.
    const float qf = static_cast<float>(q);
    const uint8_t b = t == DType::F8_E4M3 ? fp32_to_e4m3fn(qf, Fp8Overflow::Saturate)
                                          : fp32_to_e5m2(qf, Fp8Overflow::Saturate);
    dst[k] = static_cast<std::byte>(b);
  }
  return saturated;
}

}  // namespace lorakit::codec
