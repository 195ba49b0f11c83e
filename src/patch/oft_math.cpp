// OFT (§8.7) and BOFT (§8.8): Cayley transforms of skew-symmetric blocks, applied to groups of
// rows. The rotations are computed and applied in double; columns are processed in tiles because
// every column transforms independently (the row operations never mix columns).
#include <fmt/format.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

namespace {

constexpr uint64_t kTile = 128;  // columns per tile

// R = (I + Q)(I − Q)⁻¹ = (I − Q)⁻¹(I + Q) (the two factors commute): solve (I − Q)·R = I + Q.
void cayley(const RecordFactors& rec, const double* q, uint64_t b, double* r) {
  std::vector<double> lhs(b * b);
  for (uint64_t i = 0; i < b; ++i)
    for (uint64_t j = 0; j < b; ++j) {
      const double id = i == j ? 1.0 : 0.0;
      lhs[i * b + j] = id - q[i * b + j];
      r[i * b + j] = id + q[i * b + j];
    }
  single_thread();
  std::vector<lapack_int> ipiv(b);
  const lapack_int n = static_cast<lapack_int>(b);
  const lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, n, n, lhs.data(), n, ipiv.data(), r, n);
  if (info != 0) fail(rec, fmt::format("Cayley transform failed (dgesv info {})", info));
}

}  // namespace

void oft_result(const RecordFactors& rec, std::span<const float> w, std::span<const uint64_t> shape,
                std::span<float> f) {
  const bool butterfly = rec.module->kind == adapter::Kind::BOFT;
  const Tensor32& blocks = need(rec, "blocks");
  const Geometry g = geometry(shape);
  const size_t dims = butterfly ? 4 : 3;
  if (blocks.shape.size() != dims)
    fail(rec, fmt::format("oft_blocks {} must have {} dimensions", shape_text(blocks.shape), dims));
  const uint64_t stages = butterfly ? blocks.shape[0] : 1;
  const uint64_t k = blocks.shape[dims - 3], b = blocks.shape[dims - 2];
  if (blocks.shape[dims - 1] != b || k * b != g.rows || b == 0)
    fail(rec, fmt::format("oft_blocks {} do not cover the {} rows of {}", shape_text(blocks.shape),
                          g.rows, shape_text(shape)));
  if (butterfly && (b % 2 != 0 || stages == 0 || stages > 63 ||
                    g.rows % ((uint64_t{1} << (stages - 1)) * b) != 0))
    fail(rec, fmt::format("BOFT blocks {} do not fit {} rows", shape_text(blocks.shape), g.rows));
  const Tensor32* rescale = find(rec, "rescale");
  if (rescale && (need(rec, "rescale").data.size() != g.rows))
    fail(rec, fmt::format("rescale {} does not have {} rows", shape_text(rescale->shape), g.rows));

  // 1. Q = B − Bᵀ per block; 2. the constraint over all blocks together.
  const uint64_t nblocks = stages * k, bb = b * b;
  std::vector<double> q(nblocks * bb);
  for (uint64_t n = 0; n < nblocks; ++n) {
    const float* src = blocks.data.data() + n * bb;
    for (uint64_t i = 0; i < b; ++i)
      for (uint64_t j = 0; j < b; ++j)
        q[n * bb + i * b + j] = static_cast<double>(src[i * b + j]) - src[j * b + i];
  }
  const double c = rec.module->alpha_scale;
  if (c > 0) {
    double ss = 0;
    for (double x : q) ss += x * x;
    const double norm = std::sqrt(ss) + 1e-8;
    if (norm > c)
      for (double& x : q) x *= c / norm;
  }
  // 3. Cayley; OFT applies R_jᵀ, BOFT R_{ℓ,j}: store the matrix that multiplies the block.
  std::vector<double> rot(nblocks * bb);
  for (uint64_t n = 0; n < nblocks; ++n) {
    double* r = rot.data() + n * bb;
    cayley(rec, q.data() + n * bb, b, r);
    if (!butterfly)
      for (uint64_t i = 0; i < b; ++i)
        for (uint64_t j = i + 1; j < b; ++j) std::swap(r[i * b + j], r[j * b + i]);
  }
  // Row permutations of the butterfly stages: row n = a·2κ + g·κ + c moves to a·2κ + 2c + g.
  std::vector<std::vector<uint64_t>> perm;
  if (butterfly)
    for (uint64_t l = 0; l < stages; ++l) {
      const uint64_t kappa = (uint64_t{1} << l) * b / 2;
      std::vector<uint64_t> p(g.rows);
      for (uint64_t n = 0; n < g.rows; ++n) {
        const uint64_t a = n / (2 * kappa), rem = n % (2 * kappa);
        p[n] = a * 2 * kappa + 2 * (rem % kappa) + rem / kappa;
      }
      perm.push_back(std::move(p));
    }

  const uint64_t tile = std::min<uint64_t>(kTile, std::max<uint64_t>(g.cols, 1));
  std::vector<double> y(g.rows * tile), z(g.rows * tile), t(b * tile);
  for (uint64_t c0 = 0; c0 < g.cols; c0 += tile) {
    const uint64_t tw = std::min(tile, g.cols - c0);
    for (uint64_t o = 0; o < g.rows; ++o)
      for (uint64_t j = 0; j < tw; ++j) y[o * tw + j] = w[o * g.cols + c0 + j];
    for (uint64_t l = 0; l < stages; ++l) {
      // Permute (BOFT), rotate each group of b rows, permute back.
      if (butterfly) {
        const auto& p = perm[l];
        for (uint64_t n = 0; n < g.rows; ++n)
          std::copy_n(y.data() + n * tw, tw, z.data() + p[n] * tw);
      } else {
        std::copy_n(y.data(), g.rows * tw, z.data());
      }
      for (uint64_t j = 0; j < k; ++j) {
        double* zb = z.data() + j * b * tw;
        dgemm(false, false, b, tw, b, 1.0, rot.data() + (l * k + j) * bb, b, zb, tw, 0.0, t.data(),
              tw);
        std::copy_n(t.data(), b * tw, zb);
      }
      if (butterfly) {
        const auto& p = perm[l];
        for (uint64_t n = 0; n < g.rows; ++n)
          std::copy_n(z.data() + p[n] * tw, tw, y.data() + n * tw);
      } else {
        std::copy_n(z.data(), g.rows * tw, y.data());
      }
    }
    for (uint64_t o = 0; o < g.rows; ++o) {
      const double rho = rescale ? static_cast<double>(rescale->data[o]) : 1.0;
      for (uint64_t j = 0; j < tw; ++j)
        f[o * g.cols + c0 + j] = static_cast<float>(rho * y[o * tw + j]);
    }
  }
}

}  // namespace lorakit::patch::detail
