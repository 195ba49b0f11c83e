// The scale searches of the K-quant reference quantizers (file-formats.md §5.3.2), internal.
#pragma once

#include <cstdint>

namespace lorakit::codec::detail {

// AFFINE: fits x ≈ scale·L − minv with L in 0..lmax over n ≤ 32 weighted values, trying nsteps + 1
// candidate scales after the first (weighted squared error, or absolute error when `mad`).
// Returns scale; writes minv (≥ 0) and L.
float affine_search(const float* x, const float* w, int n, int lmax, float rmin, float rstep,
                    int nsteps, bool mad, uint8_t* L, float* minv);

// SYM3: symmetric 3-bit fit of 16 values (Q3_K). Returns the scale; L in 0..7 (all 0 for a group
// that is all zero within kGroupMaxEps).
float sym3_search(const float* x, uint8_t* L);

// SYM6: symmetric 6-bit fit of 16 values (Q6_K). Returns the scale; L in 0..63 (all 0 for a zero
// group).
float sym6_search(const float* x, uint8_t* L);

}  // namespace lorakit::codec::detail
