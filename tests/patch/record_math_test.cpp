// Record math, LoRA family (lora-formats.md §8.0–§8.2, §8.11, §10): apply_record, apply_bias and
// the low-rank form against float64 references written from the spec formulas with index loops.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "lorakit/error.hpp"
#include "record_math_fixtures.hpp"

namespace lorakit::testing::record_math {
namespace {

using adapter::Kind;

// ΔW[o, j] = Σ_ρ B[o,ρ]·A[ρ, j] over flat2 of both (§8.1), in double.
std::vector<double> lora_delta_ref(const Tensor32& b, const Tensor32& a) {
  const uint64_t out = b.shape[0], r = a.shape[0];
  const uint64_t cols = count(a.shape) / r;
  std::vector<double> d(out * cols, 0.0);
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t j = 0; j < cols; ++j) {
      double acc = 0;
      for (uint64_t p = 0; p < r; ++p)
        acc += static_cast<double>(b.data[o * r + p]) * a.data[p * cols + j];
      d[o * cols + j] = acc;
    }
  return d;
}

// W + c·Δ and the magnitude |W| + |c|·mag(Δ).
void additive_ref(const Tensor32& w, double c, const std::vector<double>& d,
                  const std::vector<double>& dmag, std::vector<double>& want,
                  std::vector<double>& mag) {
  want.resize(w.data.size());
  mag.resize(w.data.size());
  for (size_t i = 0; i < w.data.size(); ++i) {
    want[i] = w.data[i] + c * d[i];
    mag[i] = std::fabs(w.data[i]) + std::fabs(c) * dmag[i];
  }
}

TEST(RecordMathLora, HandDerived2x2) {
  // A = [1 2], B = [3; 4] (r = 1), γ = 0.5, s = 2: s·γ·B·A = [3 6; 4 8].
  Record r(Kind::LoRA, 0.5f);
  r.factor("down", tensor({1, 2}, {1, 2})).factor("up", tensor({2, 1}, {3, 4}));
  const Tensor32 w = tensor({2, 2}, {10, 20, 30, 40});
  EXPECT_EQ(r.apply(w, 2.0f), (std::vector<float>{13, 26, 34, 48}));
}

TEST(RecordMathLora, PlainMatchesReference) {
  Record r(Kind::LoRA, 0.75f);
  r.factor("down", rnd({4, 7}, 1)).factor("up", rnd({6, 4}, 2));
  const Tensor32 w = rnd({6, 7}, 3);
  for (float s : {1.0f, 0.3f, -1.7f, 2.5f}) {
    std::vector<double> want, mag;
    additive_ref(w, static_cast<double>(s) * 0.75, lora_delta_ref(r.f("up"), r.f("down")),
                 lora_delta_ref(abs_of(r.f("up")), abs_of(r.f("down"))), want, mag);
    expect_close(r.apply(w, s), want, mag);
  }
}

TEST(RecordMathLora, ConvKxK) {
  // A [r, in, kh, kw], B [out, r, 1, 1]: ΔW[o,i,h,w] = Σ_ρ B[o,ρ]·A[ρ,i,h,w] (§8.1).
  const uint64_t out = 5, in = 3, r = 2, kh = 3, kw = 2;
  Record rec(Kind::LoRA, 2.0f);
  rec.factor("down", rnd({r, in, kh, kw}, 11)).factor("up", rnd({out, r, 1, 1}, 12));
  const Tensor32 w = rnd({out, in, kh, kw}, 13);
  const Tensor32 &a = rec.f("down"), &b = rec.f("up");
  std::vector<double> want(w.data.size()), mag(w.data.size());
  const double c = 0.6 * 2.0;
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t i = 0; i < in; ++i)
      for (uint64_t h = 0; h < kh; ++h)
        for (uint64_t x = 0; x < kw; ++x) {
          double acc = 0, am = 0;
          for (uint64_t p = 0; p < r; ++p) {
            const double t =
                static_cast<double>(b.data[o * r + p]) * a.data[((p * in + i) * kh + h) * kw + x];
            acc += t;
            am += std::fabs(t);
          }
          const uint64_t idx = ((o * in + i) * kh + h) * kw + x;
          want[idx] = w.data[idx] + c * acc;
          mag[idx] = std::fabs(w.data[idx]) + std::fabs(c) * am;
        }
  expect_close(rec.apply(w, 0.6f), want, mag);
}

TEST(RecordMathLora, TwoDimensionalFactorsOnOneByOneConv) {
  // §8.0 reshape rule: a [out, in] delta patches a [out, in, 1, 1] conv.
  Record r(Kind::LoRA, 1.0f);
  r.factor("down", rnd({3, 4}, 21)).factor("up", rnd({5, 3}, 22));
  const Tensor32 w = rnd({5, 4, 1, 1}, 23);
  std::vector<double> want, mag;
  additive_ref(w, 1.0, lora_delta_ref(r.f("up"), r.f("down")),
               lora_delta_ref(abs_of(r.f("up")), abs_of(r.f("down"))), want, mag);
  expect_close(r.apply(w, 1.0f), want, mag);
}

TEST(RecordMathLora, Tucker) {
  // A [r, in, 1, 1], M [r, r, kh, kw], B [out, r, 1, 1]:
  // ΔW[o,i,h,w] = Σ_{p,q} B[o,p]·M[p,q,h,w]·A[q,i] (§8.2).
  const uint64_t out = 4, in = 3, r = 3, kh = 3, kw = 2;
  Record rec(Kind::LoRA, 0.5f);
  rec.factor("down", rnd({r, in, 1, 1}, 31))
      .factor("mid", rnd({r, r, kh, kw}, 32))
      .factor("up", rnd({out, r, 1, 1}, 33));
  const Tensor32 w = rnd({out, in, kh, kw}, 34);
  const Tensor32 &a = rec.f("down"), &m = rec.f("mid"), &b = rec.f("up");
  const double c = 1.5 * 0.5;
  std::vector<double> want(w.data.size()), mag(w.data.size());
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t i = 0; i < in; ++i)
      for (uint64_t h = 0; h < kh; ++h)
        for (uint64_t x = 0; x < kw; ++x) {
          double acc = 0, am = 0;
          for (uint64_t p = 0; p < r; ++p)
            for (uint64_t q = 0; q < r; ++q) {
              const double t = static_cast<double>(b.data[o * r + p]) *
                               m.data[((p * r + q) * kh + h) * kw + x] * a.data[q * in + i];
              acc += t;
              am += std::fabs(t);
            }
          const uint64_t idx = ((o * in + i) * kh + h) * kw + x;
          want[idx] = w.data[idx] + c * acc;
          mag[idx] = std::fabs(w.data[idx]) + std::fabs(c) * am;
        }
  expect_close(rec.apply(w, 1.5f), want, mag);
}

TEST(RecordMathLora, StrengthZeroIsBitIdentical) {
  Record r(Kind::LoRA, 1.0f);
  r.factor("down", rnd({2, 3}, 41)).factor("up", rnd({4, 2}, 42));
  Tensor32 w = rnd({4, 3}, 43);
  w.data[5] = std::numeric_limits<float>::quiet_NaN();
  w.data[6] = -0.0f;
  const std::vector<float> out = r.apply(w, 0.0f);
  EXPECT_TRUE(bit_identical(out, w.data));
  // -0.0 as strength is zero too.
  EXPECT_TRUE(bit_identical(r.apply(w, -0.0f), w.data));
}

TEST(RecordMathLora, LinearInStrength) {
  Record r(Kind::LoRA, 0.25f);
  r.factor("down", rnd({3, 6}, 51)).factor("up", rnd({5, 3}, 52));
  const Tensor32 w = rnd({5, 6}, 53);
  const std::vector<float> one = r.apply(w, 1.0f), three = r.apply(w, 3.0f);
  const std::vector<float> neg = r.apply(w, -1.0f);
  std::vector<double> want(w.data.size()), mag(w.data.size()), want_neg(w.data.size());
  for (size_t i = 0; i < w.data.size(); ++i) {
    const double d1 = static_cast<double>(one[i]) - w.data[i];
    want[i] = w.data[i] + 3.0 * d1;
    want_neg[i] = w.data[i] - d1;
    mag[i] = 4.0 * (std::fabs(w.data[i]) + std::fabs(d1)) + 1.0;
  }
  expect_close(three, want, mag);
  expect_close(neg, want_neg, mag);
}

TEST(RecordMathLora, PadInputChannels) {
  // A conv_in delta over 4 of 6 input channels: channels 4 and 5 stay bit-identical (§8.0).
  const uint64_t out = 3, in = 6, small = 4, r = 2;
  Record rec(Kind::LoRA, 1.0f);
  rec.module.pad_input_channels = true;
  rec.factor("down", rnd({r, small, 3, 3}, 61)).factor("up", rnd({out, r, 1, 1}, 62));
  const Tensor32 w = rnd({out, in, 3, 3}, 63);
  const std::vector<float> got = rec.apply(w, 0.5f);
  const Tensor32 &a = rec.f("down"), &b = rec.f("up");
  std::vector<double> want(w.data.size()), mag(w.data.size());
  for (uint64_t o = 0; o < out; ++o)
    for (uint64_t i = 0; i < in; ++i)
      for (uint64_t k = 0; k < 9; ++k) {
        const uint64_t idx = (o * in + i) * 9 + k;
        double acc = 0, am = 0;
        if (i < small)
          for (uint64_t p = 0; p < r; ++p) {
            const double t =
                static_cast<double>(b.data[o * r + p]) * a.data[(p * small + i) * 9 + k];
            acc += t;
            am += std::fabs(t);
          }
        want[idx] = w.data[idx] + 0.5 * acc;
        mag[idx] = std::fabs(w.data[idx]) + 0.5 * am;
        if (i >= small) {
          EXPECT_EQ(got[idx], w.data[idx]);
        }
      }
  expect_close(got, want, mag);
  // Without the flag the same record is a shape mismatch.
  rec.module.pad_input_channels = false;
  EXPECT_THROW(rec.apply(w, 0.5f), ValueError);
}

TEST(RecordMathLora, ReshapeWeightTargetIsAlreadyPadded) {
  // §8.13: the caller zero-pads W to [3, 8]; the record's A covers all 8 columns.
  Record r(Kind::LoRA, 1.0f);
  r.module.reshape_weight = std::vector<uint64_t>{3, 8};
  r.factor("down", rnd({2, 8}, 71)).factor("up", rnd({3, 2}, 72));
  Tensor32 w = rnd({3, 8}, 73);
  for (uint64_t o = 0; o < 3; ++o)
    for (uint64_t j = 4; j < 8; ++j) w.data[o * 8 + j] = 0.0f;
  std::vector<double> want, mag;
  additive_ref(w, 1.0, lora_delta_ref(r.f("up"), r.f("down")),
               lora_delta_ref(abs_of(r.f("up")), abs_of(r.f("down"))), want, mag);
  expect_close(r.apply(w, 1.0f), want, mag);
}

TEST(RecordMathLora, ShapeMismatchThrowsNamingThePrefix) {
  Record r(Kind::LoRA, 1.0f);
  r.factor("down", rnd({2, 5}, 81)).factor("up", rnd({4, 2}, 82));
  try {
    r.apply(rnd({4, 6}, 83), 1.0f);
    FAIL() << "no exception";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("test_prefix"), std::string::npos) << e.what();
  }
  // A transposed [in, out] delta with the same element count is refused too (§8.0).
  Record t(Kind::LoRA, 1.0f);
  t.factor("down", rnd({2, 4}, 84)).factor("up", rnd({6, 2}, 85));
  EXPECT_THROW(t.apply(rnd({4, 6}, 86), 1.0f), ValueError);
  // Inner ranks that disagree.
  Record k(Kind::LoRA, 1.0f);
  k.factor("down", rnd({3, 4}, 87)).factor("up", rnd({6, 2}, 88));
  EXPECT_THROW(k.apply(rnd({6, 4}, 89), 1.0f), ValueError);
}

TEST(RecordMathLora, NonFiniteResultWarns) {
  Record r(Kind::LoRA, 1.0f);
  Tensor32 up = rnd({3, 2}, 91);
  up.data[2] = std::numeric_limits<float>::infinity();
  r.factor("down", rnd({2, 4}, 92)).factor("up", up);
  std::vector<std::string> warnings;
  r.apply(rnd({3, 4}, 93), 1.0f, &warnings);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("test_prefix"), std::string::npos) << warnings[0];
  // A NaN already in the base is not the record's doing.
  Record ok(Kind::LoRA, 1.0f);
  ok.factor("down", rnd({2, 4}, 94)).factor("up", rnd({3, 2}, 95));
  Tensor32 w = rnd({3, 4}, 96);
  w.data[0] = std::numeric_limits<float>::quiet_NaN();
  warnings.clear();
  ok.apply(w, 1.0f, &warnings);
  EXPECT_TRUE(warnings.empty());
}

TEST(RecordMathBias, DiffAndPeftParts) {
  // diff_b: + s·D; lora_B.bias: + s·γ·β; lora_A.bias: + s·γ·(B·a) (§8.10, §8.11).
  Record r(Kind::LoRA, 0.5f);
  r.factor("down", tensor({2, 3}, {1, 0, 0, 0, 1, 0}))
      .factor("up", tensor({3, 2}, {1, 2, 3, 4, 5, 6}))
      .bias("diff_b", tensor({3}, {1, 2, 3}))
      .bias("lora_B.bias", tensor({3}, {10, 20, 30}))
      .bias("lora_A.bias", tensor({2}, {1, -1}));
  std::vector<float> bias = {100, 200, 300};
  patch::detail::apply_bias(r.factors(), 2.0f, bias);
  // B·a = [1-2, 3-4, 5-6] = [-1, -1, -1]; s·γ = 1.
  // 100 + 2·1 + 10 − 1 = 111; 200 + 4 + 20 − 1 = 223; 300 + 6 + 30 − 1 = 335.
  EXPECT_EQ(bias, (std::vector<float>{111, 223, 335}));
  std::vector<float> same = {1, 2, 3};
  patch::detail::apply_bias(r.factors(), 0.0f, same);
  EXPECT_EQ(same, (std::vector<float>{1, 2, 3}));
}

TEST(RecordMathBias, NormBiasAndMismatch) {
  Record r(Kind::Norm, 1.0f);
  r.bias("b_norm", tensor({2}, {0.5f, -0.25f}));
  std::vector<float> bias = {1, 1};
  patch::detail::apply_bias(r.factors(), -2.0f, bias);
  EXPECT_EQ(bias, (std::vector<float>{0.0f, 1.5f}));
  std::vector<float> wrong = {1, 2, 3};
  EXPECT_THROW(patch::detail::apply_bias(r.factors(), 1.0f, wrong), ValueError);
}

TEST(RecordMathLowRank, FactorsReproduceTheAppliedDelta) {
  Record r(Kind::LoRA, 0.125f);
  r.factor("down", rnd({3, 2, 3, 3}, 101)).factor("up", rnd({4, 3, 1, 1}, 102));
  ASSERT_TRUE(patch::detail::is_low_rank(r.factors()));
  std::vector<float> a, b;
  uint64_t rank = 0;
  const float s = 1.5f;
  patch::detail::low_rank_factors(r.factors(), s, a, b, rank);
  ASSERT_EQ(rank, 3u);
  ASSERT_EQ(a.size(), 3u * 18u);
  ASSERT_EQ(b.size(), 4u * 3u);
  const Tensor32 w = rnd({4, 2, 3, 3}, 103);
  const std::vector<float> applied = r.apply(w, s);
  // B_scaled·A (double) equals what apply_record added.
  const std::vector<double> prod = matmul(to_double(b), to_double(a), 4, 3, 18);
  std::vector<double> want(w.data.size()), mag(w.data.size());
  std::vector<double> babs(b.size()), aabs(a.size());
  for (size_t i = 0; i < b.size(); ++i) babs[i] = std::fabs(b[i]);
  for (size_t i = 0; i < a.size(); ++i) aabs[i] = std::fabs(a[i]);
  const std::vector<double> pm = matmul(babs, aabs, 4, 3, 18);
  for (size_t i = 0; i < want.size(); ++i) {
    want[i] = w.data[i] + prod[i];
    mag[i] = std::fabs(w.data[i]) + pm[i];
  }
  expect_close(applied, want, mag);
  // B_scaled is s·γ·B.
  for (size_t i = 0; i < b.size(); ++i)
    EXPECT_FLOAT_EQ(b[i], static_cast<float>(1.5 * 0.125 * r.f("up").data[i]));
}

TEST(RecordMathLowRank, OnlyPlainLora) {
  Record tucker(Kind::LoRA, 1.0f);
  tucker.factor("down", rnd({2, 3, 1, 1}, 1))
      .factor("mid", rnd({2, 2, 3, 3}, 2))
      .factor("up", rnd({4, 2, 1, 1}, 3));
  EXPECT_FALSE(patch::detail::is_low_rank(tucker.factors()));
  Record dora(Kind::LoRA, 1.0f);
  dora.factor("down", rnd({2, 3}, 1)).factor("up", rnd({4, 2}, 2));
  EXPECT_TRUE(patch::detail::is_low_rank(dora.factors()));
  dora.dora(rnd({4, 1}, 3), adapter::Module::DoraAxis::Output);
  EXPECT_FALSE(patch::detail::is_low_rank(dora.factors()));
  Record pad(Kind::LoRA, 1.0f);
  pad.module.pad_input_channels = true;
  pad.factor("down", rnd({2, 3, 3, 3}, 1)).factor("up", rnd({4, 2, 1, 1}, 2));
  EXPECT_FALSE(patch::detail::is_low_rank(pad.factors()));
  Record loha(Kind::LoHa, 1.0f);
  EXPECT_FALSE(patch::detail::is_low_rank(loha.factors()));
}

}  // namespace
}  // namespace lorakit::testing::record_math
