// The ggml K-quant super-block types Q2_K, Q3_K, Q4_K, Q5_K, Q6_K (256 elements; file-formats.md
// §5.3): dequantization maps (§5.3.1) and the reference quantizers without importance matrix
// (§5.3.3), written from the spec. Scales are searched in binary32 (k_search.cpp), stored as
// binary16, and the codes are then recomputed from the *stored* scales, as the reference does.
#include "codec/quant_k.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "codec/k_search.hpp"
#include "codec/kernels.hpp"
#include "codec/rounding.hpp"

namespace lorakit::codec::detail {
namespace {

constexpr size_t kQK = 256;

// Q2_K and Q3_K keep 2-bit codes in 64 bytes: element 128c + 32s + l sits in bits 2s..2s+1 of byte
// 32c + l.
void pack_2bit(const uint8_t* L, std::byte* qs) {
  for (int c = 0; c < 2; ++c) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t* e = L + 128 * c + l;
      qs[32 * c + l] =
          std::byte(static_cast<uint8_t>(e[0] | (e[32] << 2) | (e[64] << 4) | (e[96] << 6)));
    }
  }
}

int low2(const std::byte* qs, int e) {
  return (u8(qs + 32 * (e / 128) + e % 32) >> (2 * ((e % 128) / 32))) & 3;
}

// Q4_K/Q5_K nibbles: element 64k + l (l < 32) in the low nibble of byte 32k + l, 64k + 32 + l in
// its high nibble.
void pack_4bit(const uint8_t* L, std::byte* qs) {
  for (int k = 0; k < 4; ++k) {
    for (int l = 0; l < 32; ++l) {
      qs[32 * k + l] =
          std::byte(static_cast<uint8_t>((L[64 * k + l] & 15) | ((L[64 * k + 32 + l] & 15) << 4)));
    }
  }
}

int nibble4(const std::byte* qs, int e) {
  const uint8_t b = u8(qs + 32 * (e / 64) + e % 32);
  return e % 64 < 32 ? (b & 15) : (b >> 4);
}

// 6-bit scale code c (0..63) of Q3_K group j: low 4 bits in bytes 0..7 (two groups per byte), high
// 2 bits in bytes 8..11.
int q3k_scale_code(const uint8_t* scales, int j) {
  const int lo = j < 8 ? (scales[j] & 15) : (scales[j - 8] >> 4);
  const int hi = (scales[8 + j % 4] >> (2 * (j / 4))) & 3;
  return lo | (hi << 4);
}

// The scalar Q4_K/Q5_K steps before packing: per-group AFFINE search with weights r + |x|, the
// header, requantization with the stored scales. Leaves the codes in L.
template <int kLmax, int kNsteps>
void quantize_k4_scalar(const float* x, float rmin, std::byte* out, uint8_t* L) {
  float s[8], m[8], dl[8], dm[8];
  for (int j = 0; j < 8; ++j) {
    const float* xg = x + 32 * j;
    float sum_x2 = 0.0f;
    for (int i = 0; i < 32; ++i) sum_x2 += xg[i] * xg[i];
    const float r = std::sqrt(sum_x2 / 32.0f);  // correctly rounded sqrtf
    float w[32];
    for (int i = 0; i < 32; ++i) w[i] = r + std::fabs(xg[i]);
    s[j] = affine_search(xg, w, 32, kLmax, rmin, 0.1f, kNsteps, false, L + 32 * j, &m[j]);
  }
  k4_header(s, m, out, dl, dm);
  for (int j = 0; j < 8; ++j) {
    if (dl[j] == 0.0f) continue;  // keep the search's codes
    for (int i = 0; i < 32; ++i) {
      L[32 * j + i] = static_cast<uint8_t>(clampi(rne((x[32 * j + i] + dm[j]) / dl[j]), 0, kLmax));
    }
  }
}

// y = (d·sc)·q − dmin·mn for Q4_K/Q5_K group j, q from `code(e)`.
template <typename Code>
void dequantize_k4_groups(const std::byte* in, float* y, Code code) {
  const float d = load_f16(in), dmin = load_f16(in + 2);
  uint8_t scales[12];
  std::memcpy(scales, in + 4, 12);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    unpack_k4(scales, j, &sc, &mn);
    const float dl = d * static_cast<float>(sc), ml = dmin * static_cast<float>(mn);
    for (int i = 0; i < 32; ++i) {
      const int e = 32 * j + i;
      y[e] = dl * static_cast<float>(code(e)) - ml;
    }
  }
}

}  // namespace

void k4_header(const float* s, const float* m, std::byte* out, float* dl, float* dm) {
  float smax = 0.0f, mmax = 0.0f;
  for (int j = 0; j < 8; ++j) {
    if (s[j] > smax) smax = s[j];
    if (m[j] > mmax) mmax = m[j];
  }
  const float is = smax > 0.0f ? 63.0f / smax : 0.0f;
  const float im = mmax > 0.0f ? 63.0f / mmax : 0.0f;
  uint8_t scales[12] = {};
  for (int j = 0; j < 8; ++j) {
    // The code is narrowed to a byte before the minimum, as in the reference.
    const uint8_t ls = std::min<uint8_t>(63, static_cast<uint8_t>(rne(is * s[j])));
    const uint8_t lm = std::min<uint8_t>(63, static_cast<uint8_t>(rne(im * m[j])));
    if (j < 4) {
      scales[j] = ls;
      scales[j + 4] = lm;
    } else {
      scales[j + 4] = static_cast<uint8_t>((ls & 15) | ((lm & 15) << 4));
      scales[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
      scales[j] |= static_cast<uint8_t>((lm >> 4) << 6);
    }
  }
  store_f16(out, smax / 63.0f);
  store_f16(out + 2, mmax / 63.0f);
  std::memcpy(out + 4, scales, 12);
  const float d = load_f16(out), dmin = load_f16(out + 2);
  for (int j = 0; j < 8; ++j) {
    uint8_t sc, mn;
    unpack_k4(scales, j, &sc, &mn);
    dl[j] = d * static_cast<float>(sc);
    dm[j] = dmin * static_cast<float>(mn);
  }
}

void q2k_header(const float* s, const float* m, std::byte* out, float* dl, float* dm) {
  float smax = 0.0f, mmax = 0.0f;
  for (int j = 0; j < 16; ++j) {
    if (s[j] > smax) smax = s[j];
    if (m[j] > mmax) mmax = m[j];
  }
  uint8_t code[16] = {};
  if (smax > 0.0f) {
    const float is = 15.0f / smax;
    for (int j = 0; j < 16; ++j) code[j] = static_cast<uint8_t>(rne(is * s[j]));
    store_f16(out + 80, smax / 15.0f);
  } else {
    store_f16(out + 80, 0.0f);
  }
  if (mmax > 0.0f) {
    const float im = 15.0f / mmax;
    for (int j = 0; j < 16; ++j) code[j] |= static_cast<uint8_t>(rne(im * m[j]) << 4);
    store_f16(out + 82, mmax / 15.0f);
  } else {
    store_f16(out + 82, 0.0f);
  }
  std::memcpy(out, code, 16);
  const float d = load_f16(out + 80), dmin = load_f16(out + 82);
  for (int j = 0; j < 16; ++j) {
    dl[j] = d * static_cast<float>(code[j] & 15);
    dm[j] = dmin * static_cast<float>(code[j] >> 4);
  }
}

void q3k_header(const float* s, std::byte* out, float* dl) {
  float smax = 0.0f, amax = 0.0f;
  for (int j = 0; j < 16; ++j) {
    const float a = std::fabs(s[j]);
    if (a > amax) {
      amax = a;
      smax = s[j];
    }
  }
  uint8_t scales[12] = {};
  if (smax != 0.0f) {
    const float is = -32.0f / smax;
    for (int j = 0; j < 16; ++j) {
      const int c = clampi(rne(is * s[j]), -32, 31) + 32;
      if (j < 8) {
        scales[j] = static_cast<uint8_t>(c & 15);
      } else {
        scales[j - 8] |= static_cast<uint8_t>((c & 15) << 4);
      }
      scales[8 + j % 4] |= static_cast<uint8_t>((c >> 4) << (2 * (j / 4)));
    }
    store_f16(out + 108, 1.0f / is);
  } else {
    store_f16(out + 108, 0.0f);
  }
  std::memcpy(out + 96, scales, 12);
  const float d = load_f16(out + 108);
  for (int j = 0; j < 16; ++j) dl[j] = d * static_cast<float>(q3k_scale_code(scales, j) - 32);
}

bool q6k_header(const float* s, std::byte* out, float* dl) {
  float smax = 0.0f, amax = 0.0f;
  for (int j = 0; j < 16; ++j) {
    const float a = std::fabs(s[j]);
    if (a > amax) {
      amax = a;
      smax = s[j];
    }
  }
  if (amax < kGroupMaxEps) {  // every group negligible: the reference writes an all-zero block
    std::memset(out, 0, 210);
    return false;
  }
  const float is = -128.0f / smax;
  store_f16(out + 208, 1.0f / is);
  int8_t scales[16];
  for (int j = 0; j < 16; ++j) scales[j] = static_cast<int8_t>(std::min(127, rne(is * s[j])));
  std::memcpy(out + 192, scales, 16);
  const float d = load_f16(out + 208);
  for (int j = 0; j < 16; ++j) dl[j] = d * static_cast<float>(scales[j]);
  return true;
}

// The packers loop over output bytes, each gathering its codes from fixed offsets, so that the
// compiler vectorises them; written as loops over elements with read-modify-write of the output
// they cost more than the search of a Q6_K block.

void q2k_pack(uint8_t* L, std::byte* out) { pack_2bit(L, out + 16); }

// Bit 2 of each code goes to hmask (set means "no −4 offset": hmask bit k of byte l is element
// 32k + l), the low 2 bits to qs.
void q3k_pack(uint8_t* L, std::byte* out) {
  uint8_t hmask[32];
  for (int l = 0; l < 32; ++l) {
    uint8_t h = 0;
    for (int k = 0; k < 8; ++k) h |= static_cast<uint8_t>(((L[32 * k + l] >> 2) & 1) << k);
    hmask[l] = h;
  }
  for (int e = 0; e < 256; ++e) L[e] &= 3;
  std::memcpy(out, hmask, 32);
  pack_2bit(L, out + 32);
}

void q4k_pack(uint8_t* L, std::byte* out) { pack_4bit(L, out + 16); }

// Bit 4 of each code goes to qh (bit k of byte l is element 32k + l), the low 4 bits to qs.
void q5k_pack(uint8_t* L, std::byte* out) {
  uint8_t qh[32];
  for (int l = 0; l < 32; ++l) {
    uint8_t h = 0;
    for (int k = 0; k < 8; ++k) h |= static_cast<uint8_t>((L[32 * k + l] >> 4) << k);
    qh[l] = h;
  }
  for (int e = 0; e < 256; ++e) L[e] &= 15;
  std::memcpy(out + 16, qh, 32);
  pack_4bit(L, out + 48);
}

// Half nn (elements 128nn..128nn+127), quarter g, position l: low 4 bits in ql[64nn + l + 32(g &
// 1)] (nibble g >> 1), high 2 bits in qh[32nn + l] (bits 2g).
void q6k_pack(uint8_t* L, std::byte* out) {
  uint8_t ql[128], qh[64];
  for (int nn = 0; nn < 2; ++nn) {
    const uint8_t* e = L + 128 * nn;
    for (int l = 0; l < 32; ++l) {
      const uint8_t e0 = e[l], e1 = e[32 + l], e2 = e[64 + l], e3 = e[96 + l];
      ql[64 * nn + l] = static_cast<uint8_t>((e0 & 15) | ((e2 & 15) << 4));
      ql[64 * nn + 32 + l] = static_cast<uint8_t>((e1 & 15) | ((e3 & 15) << 4));
      qh[32 * nn + l] =
          static_cast<uint8_t>((e0 >> 4) | ((e1 >> 4) << 2) | ((e2 >> 4) << 4) | ((e3 >> 4) << 6));
    }
  }
  std::memcpy(out, ql, 128);
  std::memcpy(out + 128, qh, 64);
}

// Q2_K: scales[16] @0, qs[64] @16, d fp16 @80, dmin fp16 @82.
void quantize_q2_k(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 84;
    uint8_t L[256];
    float s[16], m[16], dl[16], dm[16];
    for (int j = 0; j < 16; ++j) {
      float w[16];
      for (int i = 0; i < 16; ++i) w[i] = std::fabs(x[16 * j + i]);
      s[j] = affine_search(x + 16 * j, w, 16, 3, -0.5f, 0.1f, 15, true, L + 16 * j, &m[j]);
    }
    q2k_header(s, m, out, dl, dm);
    for (int j = 0; j < 16; ++j) {
      if (dl[j] == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        L[16 * j + i] = static_cast<uint8_t>(clampi(rne((x[16 * j + i] + dm[j]) / dl[j]), 0, 3));
      }
    }
    q2k_pack(L, out);
  }
}

void dequantize_q2_k(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 84;
    float* y = dst + b * kQK;
    const float d = load_f16(in + 80), dmin = load_f16(in + 82);
    for (int j = 0; j < 16; ++j) {
      const uint8_t code = u8(in + j);
      const float dl = d * static_cast<float>(code & 15), ml = dmin * static_cast<float>(code >> 4);
      for (int i = 0; i < 16; ++i) {
        const int e = 16 * j + i;
        y[e] = dl * static_cast<float>(low2(in + 16, e)) - ml;
      }
    }
  }
}

// Q3_K: hmask[32] @0, qs[64] @32, scales[12] @96, d fp16 @108.
void quantize_q3_k(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 110;
    uint8_t L[256];
    float s[16], dl[16];
    for (int j = 0; j < 16; ++j) s[j] = sym3_search(x + 16 * j, L + 16 * j);
    q3k_header(s, out, dl);
    for (int j = 0; j < 16; ++j) {
      if (dl[j] == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        L[16 * j + i] = static_cast<uint8_t>(clampi(rne(x[16 * j + i] / dl[j]), -4, 3) + 4);
      }
    }
    q3k_pack(L, out);
  }
}

void dequantize_q3_k(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 110;
    float* y = dst + b * kQK;
    const float d = load_f16(in + 108);
    uint8_t scales[12];
    std::memcpy(scales, in + 96, 12);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * static_cast<float>(q3k_scale_code(scales, j) - 32);
      for (int i = 0; i < 16; ++i) {
        const int e = 16 * j + i;
        const int hb = (u8(in + e % 32) >> (e / 32)) & 1;
        y[e] = dl * static_cast<float>(low2(in + 32, e) - (hb ? 0 : 4));
      }
    }
  }
}

// Q4_K: d fp16 @0, dmin fp16 @2, scales[12] @4, qs[128] @16.
void quantize_q4_k(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    std::byte* out = dst + b * 144;
    uint8_t L[256];
    quantize_k4_scalar<15, 20>(src + b * kQK, -1.0f, out, L);
    q4k_pack(L, out);
  }
}

void dequantize_q4_k(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 144;
    dequantize_k4_groups(in, dst + b * kQK, [in](int e) { return nibble4(in + 16, e); });
  }
}

// Q5_K: d fp16 @0, dmin fp16 @2, scales[12] @4, qh[32] @16, qs[128] @48.
void quantize_q5_k(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    std::byte* out = dst + b * 176;
    uint8_t L[256];
    quantize_k4_scalar<31, 15>(src + b * kQK, -0.5f, out, L);
    q5k_pack(L, out);
  }
}

void dequantize_q5_k(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 176;
    dequantize_k4_groups(in, dst + b * kQK, [in](int e) {
      return nibble4(in + 48, e) + 16 * ((u8(in + 16 + e % 32) >> (e / 32)) & 1);
    });
  }
}

// Q6_K: ql[128] @0, qh[64] @128, scales int8[16] @192, d fp16 @208. Element e = 128n + 32g + l has
// its low 4 bits in ql[64n + l + 32(g & 1)] (nibble g >> 1) and its high 2 bits in qh[32n + l]
// (bits 2g).
void quantize_q6_k(const float* src, std::byte* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const float* x = src + b * kQK;
    std::byte* out = dst + b * 210;
    uint8_t L[256];
    float s[16], dl[16];
    for (int j = 0; j < 16; ++j) s[j] = sym6_search(x + 16 * j, L + 16 * j);
    if (!q6k_header(s, out, dl)) continue;
    for (int j = 0; j < 16; ++j) {
      if (dl[j] == 0.0f) continue;
      for (int i = 0; i < 16; ++i) {
        L[16 * j + i] = static_cast<uint8_t>(clampi(rne(x[16 * j + i] / dl[j]), -32, 31) + 32);
      }
    }
    q6k_pack(L, out);
  }
}

void dequantize_q6_k(const std::byte* src, float* dst, size_t n) {
  for (size_t b = 0; b < n / kQK; ++b) {
    const std::byte* in = src + b * 210;
    float* y = dst + b * kQK;
    const float d = load_f16(in + 208);
    for (int j = 0; j < 16; ++j) {
      const float dl = d * static_cast<float>(static_cast<int8_t>(u8(in + 192 + j)));
      for (int i = 0; i < 16; ++i) {
        const int e = 16 * j + i;
        const int nn = e / 128, l = e % 32, g = (e % 128) / 32;
        const int lo4 = (u8(in + 64 * nn + l + 32 * (g & 1)) >> (4 * (g >> 1))) & 15;
        const int hi2 = (u8(in + 128 + 32 * nn + l) >> (2 * g)) & 3;
        y[e] = dl * static_cast<float>((lo4 | (hi2 << 4)) - 32);
      }
    }
  }
}

}  // namespace lorakit::codec::detail
