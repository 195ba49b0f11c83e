#include "tools/synth_random.hpp"

#include <cmath>
#include <numbers>

namespace lorakit::tools {
namespace {

// splitmix64's finaliser: a bijective 64-bit mix.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

struct Pair {
  float a, b;
};

Pair normal_pair(uint64_t key, uint64_t j) {
  const uint64_t h = mix64(key ^ mix64(j * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull));
  // u1 in (0, 1] so the logarithm is finite; u2 in [0, 1).
  const float u1 = (static_cast<float>(h >> 40) + 1.0f) * 0x1p-24f;
  const float u2 = static_cast<float>(h & 0xffffff) * 0x1p-24f;
  const float r = std::sqrt(-2.0f * std::log(u1));
  const float t = 2.0f * std::numbers::pi_v<float> * u2;
  return {r * std::cos(t), r * std::sin(t)};
}

}  // namespace

uint64_t synth_stream_key(uint64_t seed, std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return mix64(h ^ mix64(seed + 0x9e3779b97f4a7c15ull));
}

void synth_normal(uint64_t key, uint64_t begin, uint64_t n, float stddev, float* out) {
  uint64_t i = begin;
  const uint64_t end = begin + n;
  if (i < end && (i & 1)) {
    *out++ = normal_pair(key, i >> 1).b * stddev;
    ++i;
  }
  for (; i + 1 < end; i += 2) {
    const Pair p = normal_pair(key, i >> 1);
    *out++ = p.a * stddev;
    *out++ = p.b * stddev;
  }
  if (i < end) *out = normal_pair(key, i >> 1).a * stddev;
}

}  // namespace lorakit::tools
