// Integer and bool element types → fp32: each element's value, rounded to nearest even by the
// hardware conversion when it needs more than 24 significant bits. There is no encoder: lorakit
// never writes integer tensors from float data.
#include <cstring>

#include "codec/kernels.hpp"

namespace lorakit::codec::detail {
namespace {

template <typename T>
void decode_int(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    dst[i] = static_cast<float>(v);
  }
}

}  // namespace

// safetensors BOOL is one byte; any non-zero byte reads as true.
void decode_bool(const std::byte* src, float* dst, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = src[i] != std::byte{0} ? 1.0f : 0.0f;
}
void decode_u8(const std::byte* src, float* dst, size_t n) { decode_int<uint8_t>(src, dst, n); }
void decode_i8(const std::byte* src, float* dst, size_t n) { decode_int<int8_t>(src, dst, n); }
void decode_u16(const std::byte* src, float* dst, size_t n) { decode_int<uint16_t>(src, dst, n); }
void decode_i16(const std::byte* src, float* dst, size_t n) { decode_int<int16_t>(src, dst, n); }
void decode_u32(const std::byte* src, float* dst, size_t n) { decode_int<uint32_t>(src, dst, n); }
void decode_i32(const std::byte* src, float* dst, size_t n) { decode_int<int32_t>(src, dst, n); }
void decode_u64(const std::byte* src, float* dst, size_t n) { decode_int<uint64_t>(src, dst, n); }
void decode_i64(const std::byte* src, float* dst, size_t n) { decode_int<int64_t>(src, dst, n); }

}  // namespace lorakit::codec::detail
