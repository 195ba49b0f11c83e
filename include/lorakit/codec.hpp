// lorakit::codec — element types to and from fp32: plain floats (F32, F16, BF16, F64, FP8) and the
// ggml block types. Bit-exact with ../shared/spec/file-formats.md §4–§6 and the reference vectors in
// ../shared/testdata/quants and ../shared/testdata/fp8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "lorakit/dtype.hpp"

namespace lorakit::codec {

// What encoding to fp8 does with magnitudes beyond the largest finite value.
enum class Fp8Overflow {
  Saturate,  // clamp to ±max finite (lorakit's default for weights, spec §6.5 "nearest")
  Cast,      // PyTorch's cast: e4m3fn → NaN, e5m2 → ±inf (the testdata/fp8 tables)
};

struct EncodeOptions {
  Fp8Overflow fp8_overflow = Fp8Overflow::Saturate;
};

bool can_decode(DType t);
bool can_encode(DType t);

// Decodes n elements (a whole number of blocks) from `src` into `dst`. `src` need not be aligned.
// Integer types decode to their value as float. Throws UnsupportedError for types without a decoder.
void decode(DType t, const std::byte* src, float* dst, size_t n);

// Encodes n elements (a whole number of blocks). For ggml block types this is the reference quantizer
// (bit-exact); non-finite input is rejected with ValueError naming the first bad index. For float types
// it rounds to nearest, ties to even.
void encode(DType t, const float* src, std::byte* dst, size_t n, const EncodeOptions& opt = {});

// Decode / encode a whole tensor of `rows` rows of `row_elements` elements, split over the oneTBB
// thread pool by rows. Results are identical for any thread count.
void decode_rows(DType t, const std::byte* src, float* dst, size_t rows, size_t row_elements);
void encode_rows(DType t, const float* src, std::byte* dst, size_t rows, size_t row_elements,
                 const EncodeOptions& opt = {});

// Stochastic rounding into F8_E4M3 or F8_E5M2 (file-formats.md §6.5): element k of `src` is element
// first_index + k of its tensor, so a tensor may be encoded in any tiling with identical bytes.
// Magnitudes beyond the largest finite value (and ±inf) saturate; NaN stays NaN. Returns the number
// of saturated elements.
uint64_t encode_fp8_stochastic(DType t, const float* src, std::byte* dst, size_t n, uint64_t seed64,
                               uint64_t first_index = 0);
// seed64 = (user_seed << 32) | CRC-32 of the tensor key's UTF-8 bytes (§6.5 step 1).
uint64_t stochastic_seed(std::string_view key, uint32_t user_seed);
// CRC-32 (reflected 0xEDB88320, init and final XOR 0xFFFFFFFF), as zlib's crc32.
uint32_t crc32(std::string_view bytes);

// Scalar conversions (spec §4, §6).
uint16_t fp32_to_fp16(float f);
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);
float bf16_to_fp32(uint16_t h);
uint8_t fp32_to_e4m3fn(float f, Fp8Overflow mode);
uint8_t fp32_to_e5m2(float f, Fp8Overflow mode);
float e4m3fn_to_fp32(uint8_t b);
float e5m2_to_fp32(uint8_t b);

}  // namespace lorakit::codec
