// The SIMD delta sums and the fused float-tile finish: bytes equal codec::encode for every value
// (NaN, ±inf, overflow past the type, subnormals included) and the sums equal a float64 reference
// computed here from the definition.
#include "patch/delta_sums.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "lorakit/buffer.hpp"
#include "lorakit/codec.hpp"

namespace lorakit {
namespace {

struct Reference {
  double dd = 0, proj = 0, err = 0;
  bool nonfinite = false;
};

Reference reference(const std::vector<float>& w0, const std::vector<float>& w,
                    const std::vector<float>& eff) {
  Reference r;
  for (size_t i = 0; i < w.size(); ++i) {
    if (!std::isfinite(w[i])) r.nonfinite = true;
    const double d = double(w[i]) - w0[i], p = double(eff[i]) - w0[i], x = double(eff[i]) - w[i];
    if (!std::isfinite(d) || !std::isfinite(p)) continue;
    r.dd += d * d, r.proj += p * d, r.err += x * x;
  }
  return r;
}

// Base values around ±1 with deltas of ~1e-3 relative; `specials` plants NaN, ±inf, values past
// the fp16 range and subnormals at scattered positions.
void make(size_t n, bool specials, uint32_t seed, std::vector<float>& w0, std::vector<float>& w) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  w0.resize(n), w.resize(n);
  for (size_t i = 0; i < n; ++i) {
    w0[i] = nd(rng);
    w[i] = w0[i] + 1e-3f * nd(rng);
  }
  if (!specials) return;
  const float inf = std::numeric_limits<float>::infinity();
  const float cases[] = {std::nanf(""), inf, -inf, 70000.0f, -65520.0f, 1e-7f, -3e-8f, 1e38f};
  for (size_t k = 0; k < 8; ++k) w[(k * 977 + 5) % n] = cases[k];
  w0[(3 * 977 + 11) % n] = std::nanf("");
}

void expect_close(double got, double want) {
  EXPECT_NEAR(got, want, 1e-12 * std::fabs(want) + 1e-300);
}

TEST(DeltaSums, MatchFloat64Reference) {
  for (bool specials : {false, true}) {
    for (size_t n : {size_t{1}, size_t{7}, size_t{4097}, size_t{100003}}) {
      std::vector<float> w0, w;
      make(n, specials, 7 + n, w0, w);
      std::vector<float> eff(n);
      std::vector<std::byte> bytes(2 * n);
      codec::encode(DType::F16, w.data(), bytes.data(), n);
      codec::decode(DType::F16, bytes.data(), eff.data(), n);
      patch::detail::DeltaSums s;
      patch::detail::accumulate_delta_sums(w0.data(), w.data(), eff.data(), n, s);
      const Reference r = reference(w0, w, eff);
      SCOPED_TRACE(n);
      expect_close(s.dd, r.dd);
      expect_close(s.proj, r.proj);
      expect_close(s.err, r.err);
      EXPECT_EQ(s.nonfinite, r.nonfinite);
      if (n >= 8) {
        EXPECT_EQ(s.nonfinite, specials);
      }
      // W₀ null means zeros.
      patch::detail::DeltaSums z;
      patch::detail::accumulate_delta_sums(nullptr, w.data(), eff.data(), n, z);
      const Reference rz = reference(std::vector<float>(n, 0.0f), w, eff);
      expect_close(z.dd, rz.dd);
      expect_close(z.proj, rz.proj);
    }
  }
}

TEST(FinishTile, BytesOfTheCodecAndSumsOfTheDefinition) {
  const DType types[] = {DType::F32, DType::F16, DType::BF16};
  for (DType src_t : types) {
    for (DType out_t : types) {
      ASSERT_TRUE(patch::detail::fused_finish(src_t, out_t));
      for (bool specials : {false, true}) {
        for (size_t n : {size_t{3}, size_t{257}, size_t{65536 + 5}}) {
          SCOPED_TRACE(fmt::format("{} -> {} n={}{}", name(src_t), name(out_t), n,
                                   specials ? " specials" : ""));
          std::vector<float> w0_in, w;
          make(n, specials, 11 + n, w0_in, w);
          // The source as stored, and W₀ as it decodes.
          std::vector<std::byte> src(*bytes_for(src_t, n));
          codec::encode(src_t, w0_in.data(), src.data(), n);
          std::vector<float> w0(n);
          codec::decode(src_t, src.data(), w0.data(), n);
          std::vector<std::byte> want(*bytes_for(out_t, n));
          codec::encode(out_t, w.data(), want.data(), n);
          std::vector<float> eff(n);
          codec::decode(out_t, want.data(), eff.data(), n);
          const Reference r = reference(w0, w, eff);
          // At a cache-line-aligned destination (16-bit outputs are then streamed) and 2 bytes
          // past one (plain stores): the same bytes, with the padding around them untouched.
          for (size_t offset : {size_t{0}, size_t{2}}) {
            SCOPED_TRACE(offset);
            ByteBuffer buf;
            buf.assign(want.size() + 64, std::byte{0x5A});
            patch::detail::DeltaSums s;
            patch::detail::finish_tile(src_t, src.data(), w.data(), out_t, buf.data() + offset, n,
                                       s);
            EXPECT_TRUE(std::equal(want.begin(), want.end(), buf.begin() + offset));
            EXPECT_TRUE(std::all_of(buf.begin(), buf.begin() + offset,
                                    [](std::byte b) { return b == std::byte{0x5A}; }));
            EXPECT_TRUE(std::all_of(buf.begin() + offset + want.size(), buf.end(),
                                    [](std::byte b) { return b == std::byte{0x5A}; }));
            expect_close(s.dd, r.dd);
            expect_close(s.proj, r.proj);
            expect_close(s.err, r.err);
            EXPECT_EQ(s.nonfinite, r.nonfinite);
          }
        }
      }
    }
  }
  EXPECT_FALSE(patch::detail::fused_finish(DType::F16, DType::F8_E4M3));
  EXPECT_FALSE(patch::detail::fused_finish(DType::Q8_0, DType::F16));
}

}  // namespace
}  // namespace lorakit
