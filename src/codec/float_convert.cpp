// Plain float types ↔ fp32: F32 (copy), F64 (rounded to nearest even by the hardware conversion),
// and the scalar F16/BF16 loops that define what the SIMD kernels must reproduce (§4).
#include <cstring>

#include "codec/half.hpp"
#include "codec/kernels.hpp"
#include "codec/rounding.hpp"
#include "lorakit/codec.hpp"

namespace lorakit::codec {

uint16_t fp32_to_fp16(float f) { return detail::f32_to_f16(f); }
float fp16_to_fp32(uint16_t h) { return detail::f16_to_f32(h); }
uint16_t fp32_to_bf16(float f) { return detail::f32_to_bf16(f); }
float bf16_to_fp32(uint16_t h) { return detail::bf16_to_f32(h); }

namespace detail {

void decode_f32(const std::byte* src, float* dst, size_t n) {
  std::memcpy(dst, src, n * sizeof(float));
}
void encode_f32(const float* src, std::byte* dst, size_t n) {
  std::memcpy(dst, src, n * sizeof(float));
}

void decode_f64(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    double v;
    std::memcpy(&v, src + i * sizeof v, sizeof v);
    dst[i] = static_cast<float>(v);  // IEEE conversion: nearest even, overflow to inf, NaN kept
  }
}
void encode_f64(const float* src, std::byte* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    const double v = src[i];  // exact
    std::memcpy(dst + i * sizeof v, &v, sizeof v);
  }
}

void decode_f16_scalar(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(load_u16(src + 2 * i));
}
void encode_f16_scalar(const float* src, std::byte* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) store_u16(dst + 2 * i, f32_to_f16(src[i]));
}
void decode_bf16_scalar(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(load_u16(src + 2 * i));
}
void encode_bf16_scalar(const float* src, std::byte* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) store_u16(dst + 2 * i, f32_to_bf16(src[i]));
}

}  // namespace detail
}  // namespace lorakit::codec
