// The K-quant scale searches, written from file-formats.md §5.3.2. Every sum runs sequentially in
// index order and every product is rounded before the next operation (contraction is off for the
// whole build): the chosen codes flip on the last bit of these sums, so any reassociation changes
// the output bytes.
#include "codec/k_search.hpp"

#include <cmath>

#include "codec/rounding.hpp"

namespace lorakit::codec::detail {
namespace {

// The value of largest magnitude, sign kept (strictly larger replaces, so the first wins ties).
float signed_absmax16(const float* x, float* amax_out) {
  float amax = 0.0f, m = 0.0f;
  for (int i = 0; i < 16; ++i) {
    const float a = std::fabs(x[i]);
    if (a > amax) {
      amax = a;
      m = x[i];
    }
  }
  *amax_out = amax;
  return m;
}

}  // namespace

float affine_search(const float* x, const float* w, int n, int lmax, float rmin, float rstep,
                    int nsteps, bool mad, uint8_t* L, float* minv) {
  // 1–2. Range (lo clipped to ≤ 0) and the weighted sums that do not depend on L.
  float lo = x[0], hi = x[0];
  float sw = w[0];
  float sx = w[0] * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < lo) lo = x[i];
    if (x[i] > hi) hi = x[i];
    sw += w[i];
    sx += w[i] * x[i];
  }
  if (lo > 0.0f) lo = 0.0f;
  // 3. A constant group (after clipping) needs no codes.
  if (hi == lo) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *minv = -lo;
    return 0.0f;
  }
  const float fmax = static_cast<float>(lmax);
  // 4. The plain min/max fit and its error.
  float is = fmax / (hi - lo);
  float sc = 1.0f / is;
  float best = 0.0f;
  for (int i = 0; i < n; ++i) {
    const int32_t l = clampi(rne(is * (x[i] - lo)), 0, lmax);
    L[i] = static_cast<uint8_t>(l);
    const float e = (sc * static_cast<float>(l) + lo) - x[i];
    best += w[i] * (mad ? std::fabs(e) : e * e);
  }
  // 5. Candidate scales: codes from a stretched range, then the weighted least-squares (scale, min)
  // for those codes. `lo` is the running best min, so later candidates start from an improved one.
  uint8_t Lc[32];
  for (int t = 0; t <= nsteps; ++t) {
    is = ((rmin + rstep * static_cast<float>(t)) + fmax) / (hi - lo);
    float sl = 0.0f, sl2 = 0.0f, sxl = 0.0f;
    for (int i = 0; i < n; ++i) {
      const int32_t l = clampi(rne(is * (x[i] - lo)), 0, lmax);
      Lc[i] = static_cast<uint8_t>(l);
      const float fl = static_cast<float>(l);
      const float wl = w[i] * fl;
      sl += wl;
      sl2 += wl * fl;
      sxl += wl * x[i];
    }
    const float det = sw * sl2 - sl * sl;
    if (det > 0.0f) {
      float sc_c = (sw * sxl - sx * sl) / det;
      float m_c = (sl2 * sx - sl * sxl) / det;
      if (m_c > 0.0f) {  // the min must stay ≤ 0: refit the scale alone
        m_c = 0.0f;
        sc_c = sxl / sl2;
      }
      float err = 0.0f;
      for (int i = 0; i < n; ++i) {
        const float e = (sc_c * static_cast<float>(Lc[i]) + m_c) - x[i];
        err += w[i] * (mad ? std::fabs(e) : e * e);
      }
      if (err < best) {
        for (int i = 0; i < n; ++i) L[i] = Lc[i];
        best = err;
        sc = sc_c;
        lo = m_c;
      }
    }
  }
  *minv = -lo;
  return sc;
}

float sym3_search(const float* x, uint8_t* Lout) {
  constexpr int kN = 16;
  float amax;
  const float m = signed_absmax16(x, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < kN; ++i)
      Lout[i] = 0;  // 0, not 4: the reference leaves these codes unbiased
    return 0.0f;
  }
  // 2. Codes from the extreme value, with weights x².
  const float is = -4.0f / m;
  int32_t L[kN];
  float sxl = 0.0f, sll = 0.0f;
  for (int i = 0; i < kN; ++i) {
    L[i] = clampi(rne(is * x[i]), -4, 3);
    const float w = x[i] * x[i];
    const float fl = static_cast<float>(L[i]);
    sxl += (w * x[i]) * fl;
    sll += (w * fl) * fl;
  }
  // 3. Coordinate descent: move one code at a time when that raises Sxl²/Sll.
  for (int pass = 0; pass < 5; ++pass) {
    bool changed = false;
    for (int i = 0; i < kN; ++i) {
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(L[i]);
      float a = sxl - (w * x[i]) * fl;
      if (a > 0.0f) {
        float b = sll - (w * fl) * fl;
        const int32_t lp = clampi(rne((x[i] * b) / a), -4, 3);
        if (lp != L[i]) {
          const float flp = static_cast<float>(lp);
          a += (w * x[i]) * flp;
          b += (w * flp) * flp;
          if (b > 0.0f && (a * a) * sll > (sxl * sxl) * b) {
            L[i] = lp;
            sxl = a;
            sll = b;
            changed = true;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (int i = 0; i < kN; ++i) Lout[i] = static_cast<uint8_t>(L[i] + 4);
  return sll > 0.0f ? sxl / sll : 0.0f;
}

float sym6_search(const float* x, uint8_t* Lout) {
  constexpr int kN = 16;
  float amax;
  const float m = signed_absmax16(x, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < kN; ++i) Lout[i] = 0;
    return 0.0f;
  }
  // Codes for scale -nmax/m, and the sums Sxl, Sll (weights x²) that score them.
  auto fit = [&](float is, int32_t* l, float* sxl, float* sll) {
    float a = 0.0f, b = 0.0f;
    for (int i = 0; i < kN; ++i) {
      l[i] = clampi(rne(is * x[i]), -32, 31);
      const float w = x[i] * x[i];
      const float fl = static_cast<float>(l[i]);
      a += (w * x[i]) * fl;
      b += (w * fl) * fl;
    }
    *sxl = a;
    *sll = b;
  };
  int32_t l[kN];
  float sxl, sll;
  fit(-32.0f / m, l, &sxl, &sll);
  for (int i = 0; i < kN; ++i) Lout[i] = static_cast<uint8_t>(l[i] + 32);
  float sc = sll != 0.0f ? sxl / sll : 0.0f;
  float best = sc * sxl;
  for (int t = -9; t <= 9; ++t) {
    if (t == 0) continue;
    const float is = -(32.0f + 0.1f * static_cast<float>(t)) / m;
    fit(is, l, &sxl, &sll);
    if (sll > 0.0f && sxl * sxl > best * sll) {
      for (int i = 0; i < kN; ++i) Lout[i] = static_cast<uint8_t>(l[i] + 32);
      sc = sxl / sll;
      best = sc * sxl;
    }
  }
  return sc;
}

}  // namespace lorakit::codec::detail
