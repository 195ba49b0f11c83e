// The per-super-block steps of the K-quant quantizers that follow the group searches (internal):
// the scale headers and the code packing. Shared by the scalar quantizers (quant_k.cpp) and the
// SIMD ones (simd_quant.cpp), so both run these steps through one piece of code; only the searches
// and the requantization differ, and those are checked lane by lane against the scalar kernels.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lorakit::codec::detail {

// Each *_header takes the searched group scales s[] (and mins m[]), writes the super-block's scale
// fields into `out` and returns the requantization parameters of each group: code =
// clamp(rne((x + dm[j]) / dl[j])) for the affine types, clamp(rne(x / dl[j])) for the symmetric
// ones. A group with dl[j] == 0 keeps the codes of its search.

// Q4_K/Q5_K, 8 groups of 32: d @0, dmin @2, scales[12] @4.
void k4_header(const float* s, const float* m, std::byte* out, float* dl, float* dm);
// Q2_K, 16 groups of 16: scales[16] @0, d @80, dmin @82.
void q2k_header(const float* s, const float* m, std::byte* out, float* dl, float* dm);
// Q3_K, 16 groups of 16: scales[12] @96, d @108.
void q3k_header(const float* s, std::byte* out, float* dl);
// Q6_K, 16 groups of 16: scales int8[16] @192, d @208. Returns false when every group is
// negligible: the block has then been written as all zero bytes and needs no codes.
bool q6k_header(const float* s, std::byte* out, float* dl);

// The codes L[256] (in element order, each in its type's range) into the block's code fields. L is
// used as scratch.
void q2k_pack(uint8_t* L, std::byte* out);
void q3k_pack(uint8_t* L, std::byte* out);
void q4k_pack(uint8_t* L, std::byte* out);
void q5k_pack(uint8_t* L, std::byte* out);
void q6k_pack(uint8_t* L, std::byte* out);

}  // namespace lorakit::codec::detail
