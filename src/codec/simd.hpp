// Highway kernels with runtime dispatch (internal): the hot decode/encode paths. Each gives the
// same bits as its scalar twin in kernels.hpp on every input, NaNs included;
// tests/codec/simd_test.cpp checks that for every compiled target the CPU supports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lorakit/codec.hpp"

namespace lorakit::codec::detail {

// simd_convert.cpp
void decode_f16_simd(const std::byte* src, float* dst, size_t n);
void encode_f16_simd(const float* src, std::byte* dst, size_t n);
void decode_bf16_simd(const std::byte* src, float* dst, size_t n);
void encode_bf16_simd(const float* src, std::byte* dst, size_t n);
void encode_e4m3fn_simd(const float* src, std::byte* dst, size_t n, Fp8Overflow mode);
void encode_e5m2_simd(const float* src, std::byte* dst, size_t n, Fp8Overflow mode);

// simd_dequant.cpp
void dequantize_q8_0_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q4_k_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q4_0_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q4_1_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q5_0_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q5_1_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q2_k_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q3_k_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q5_k_simd(const std::byte* src, float* dst, size_t n);
void dequantize_q6_k_simd(const std::byte* src, float* dst, size_t n);

// simd_quant.cpp: the block quantizers (same bytes as their scalar twins in kernels.hpp for every
// finite input) and the dispatcher's scan for non-finite input (index of the first, or n).
void quantize_q8_0_simd(const float* src, std::byte* dst, size_t n);
void quantize_q4_0_simd(const float* src, std::byte* dst, size_t n);
void quantize_q4_1_simd(const float* src, std::byte* dst, size_t n);
void quantize_q5_0_simd(const float* src, std::byte* dst, size_t n);
void quantize_q5_1_simd(const float* src, std::byte* dst, size_t n);
void quantize_q2_k_simd(const float* src, std::byte* dst, size_t n);
void quantize_q3_k_simd(const float* src, std::byte* dst, size_t n);
void quantize_q4_k_simd(const float* src, std::byte* dst, size_t n);
void quantize_q5_k_simd(const float* src, std::byte* dst, size_t n);
void quantize_q6_k_simd(const float* src, std::byte* dst, size_t n);
size_t first_nonfinite_simd(const float* x, size_t n);

// For tests: the Highway targets compiled in and supported by this CPU, and a way to make dispatch
// pick one of them (0 restores the normal choice).
std::vector<int64_t> simd_targets();
std::string simd_target_name(int64_t target);
void force_simd_target(int64_t target);
int64_t simd_dispatched_target();

}  // namespace lorakit::codec::detail
