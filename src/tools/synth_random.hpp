// Deterministic normal(0, σ) values for synthetic models and adapters: a counter-based generator,
// so element i of a stream depends only on (stream key, i). Any chunking and any thread count give
// the same values, and a tensor can be generated in pieces from many threads.
#pragma once

#include <cstdint>
#include <string_view>

namespace lorakit::tools {

// The stream key of one tensor: a hash of the user seed and the tensor's name.
uint64_t synth_stream_key(uint64_t seed, std::string_view name);

// Writes elements [begin, begin + n) of the stream `key`, scaled by `stddev`, to out[0..n).
// Pairs of elements come from one Box–Muller draw on a 64-bit counter hash.
void synth_normal(uint64_t key, uint64_t begin, uint64_t n, float stddev, float* out);

}  // namespace lorakit::tools
