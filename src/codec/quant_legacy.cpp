// The legacy ggml 32-element block types Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 (file-formats.md §5.2):
// reference quantizers and dequantizers, written from the spec. Every float operation is a separate
// binary32 operation in the order written there (the build has contraction off), because these must
// reproduce the reference bytes exactly.
#include <cfloat>
#include <cmath>

#include "codec/kernels.hpp"
#include "codec/rounding.hpp"

namespace lorakit::codec::detail {
namespace {

constexpr size_t kQK = 32;

// The element of largest magnitude with its sign; on equal magnitudes the first one wins, because
// only a strictly larger magnitude replaces it. Q4_0/Q5_0 take their scale's sign from it.
float signed_absmax(const float* x) {
  float amax = 0.0f, m = 0.0f;
  for (size_t j = 0; j < kQK; ++j) {
    const float a = std::fabs(x[j]);
    if (a > amax) {
      amax = a;
      m = x[j];
    }
  }
  return m;
}

// Minimum and maximum, starting from ±FLT_MAX as the reference does.
void min_max(const float* x, float* lo, float* hi) {
  float mn = FLT_MAX, mx = -FLT_MAX;
  for (size_t j = 0; j < kQK; ++j) {
    if (x[j] < mn) mn = x[j];
    if (x[j] > mx) mx = x[j];
  }
  *lo = mn;
  *hi = mx;
}

// The quantizers multiply by the binary32 reciprocal of the unrounded scale (0 for a zero scale).
float reciprocal_or_zero(float d) { return d != 0.0f ? 1.0f / d : 0.0f; }

// 4-bit codes: element j in the low nibble of byte j, element j+16 in the high nibble.
void pack_nibbles(const int32_t* q, std::byte* qs) {
  for (size_t j = 0; j < kQK / 2; ++j)
    qs[j] = std::byte(static_cast<uint8_t>((q[j] & 15) | ((q[j + 16] & 15) << 4)));
}

// 5-bit codes: the low 4 bits as nibbles, bit 4 of element j in bit j of the u32 qh.
void pack_5bit(const int32_t* q, std::byte* qh, std::byte* qs) {
  uint32_t h = 0;
  for (size_t j = 0; j < kQK; ++j) h |= static_cast<uint32_t>((q[j] >> 4) & 1) << j;
  store_u32(qh, h);
  pack_nibbles(q, qs);
}

int32_t nibble(const std::byte* qs, size_t j) {
  const uint8_t b = u8(qs + j % 16);
  return j < 16 ? (b & 15) : (b >> 4);
}

}  // namespace

// Q8_0: d fp16 @0, q int8[32] @2.
void quantize_q8_0(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 34;
    float amax = 0.0f;
    for (size_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = reciprocal_or_zero(d);
    for (size_t j = 0; j < kQK; ++j) {
      out[2 + j] = std::byte(static_cast<uint8_t>(static_cast<int8_t>(roundaway(x[j] * id))));
    }
    store_f16(out, d);
  }
}

void dequantize_q8_0(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 34;
    float* y = dst + b * kQK;
    const float d = load_f16(in);
    for (size_t j = 0; j < kQK; ++j)
      y[j] = static_cast<float>(static_cast<int8_t>(u8(in + 2 + j))) * d;
  }
}

// Q4_0: d fp16 @0, qs[16] @2; y = (q − 8)·d.
void quantize_q4_0(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 18;
    const float d = signed_absmax(x) / -8.0f;
    const float id = reciprocal_or_zero(d);
    int32_t q[kQK];
    for (size_t j = 0; j < kQK; ++j) q[j] = std::min(15, trunc_int(x[j] * id + 8.5f));
    store_f16(out, d);
    pack_nibbles(q, out + 2);
  }
}

void dequantize_q4_0(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 18;
    float* y = dst + b * kQK;
    const float d = load_f16(in);
    for (size_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(nibble(in + 2, j) - 8) * d;
  }
}

// Q4_1: d fp16 @0, m fp16 @2, qs[16] @4; y = q·d + m.
void quantize_q4_1(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 20;
    float lo, hi;
    min_max(x, &lo, &hi);
    const float d = (hi - lo) / 15.0f;
    const float id = reciprocal_or_zero(d);
    int32_t q[kQK];
    for (size_t j = 0; j < kQK; ++j) q[j] = std::min(15, trunc_int((x[j] - lo) * id + 0.5f));
    store_f16(out, d);
    store_f16(out + 2, lo);
    pack_nibbles(q, out + 4);
  }
}

void dequantize_q4_1(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 20;
    float* y = dst + b * kQK;
    const float d = load_f16(in), m = load_f16(in + 2);
    for (size_t j = 0; j < kQK; ++j) y[j] = static_cast<float>(nibble(in + 4, j)) * d + m;
  }
}

// Q5_0: d fp16 @0, qh u32 @2, qs[16] @6; y = (q − 16)·d.
void quantize_q5_0(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 22;
    const float d = signed_absmax(x) / -16.0f;
    const float id = reciprocal_or_zero(d);
    int32_t q[kQK];
    for (size_t j = 0; j < kQK; ++j) q[j] = std::min(31, trunc_int(x[j] * id + 16.5f));
    store_f16(out, d);
    pack_5bit(q, out + 2, out + 6);
  }
}

void dequantize_q5_0(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 22;
    float* y = dst + b * kQK;
    const float d = load_f16(in);
    const uint32_t qh = load_u32(in + 2);
    for (size_t j = 0; j < kQK; ++j) {
      const int32_t q = nibble(in + 6, j) | static_cast<int32_t>(((qh >> j) & 1) << 4);
      y[j] = static_cast<float>(q - 16) * d;
    }
  }
}

// Q5_1: d fp16 @0, m fp16 @2, qh u32 @4, qs[16] @8; y = q·d + m. The reference does not clamp q
// here.
void quantize_q5_1(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 24;
    float lo, hi;
    min_max(x, &lo, &hi);
    const float d = (hi - lo) / 31.0f;
    const float id = reciprocal_or_zero(d);
    int32_t q[kQK];
    for (size_t j = 0; j < kQK; ++j) q[j] = trunc_int((x[j] - lo) * id + 0.5f);
    store_f16(out, d);
    store_f16(out + 2, lo);
    pack_5bit(q, out + 4, out + 8);
  }
}

void dequantize_q5_1(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 24;
    float* y = dst + b * kQK;
    const float d = load_f16(in), m = load_f16(in + 2);
    const uint32_t qh = load_u32(in + 4);
    for (size_t j = 0; j < kQK; ++j) {
      const int32_t q = nibble(in + 8, j) | static_cast<int32_t>(((qh >> j) & 1) << 4);
      y[j] = static_cast<float>(q) * d + m;
    }
  }
}

}  // namespace lorakit::codec::detail
