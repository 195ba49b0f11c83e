// LoRA / LoCon (§8.1) and its Tucker form (§8.2): dst += c·B·A. The plain form adds the product
// straight into the target (sgemm with beta = 1), so no ΔW buffer exists for it.
#include <fmt/format.h>

#include <algorithm>

#include "lorakit/error.hpp"
#include "patch/math_internal.hpp"
#include "patch/record_math.hpp"

namespace lorakit::patch::detail {

void lora_product_rows(const MatView& b, const MatView& a, float c, uint64_t row_begin,
                       uint64_t rows, uint64_t cols, float* dst, uint64_t ldc) {
  // OpenBLAS rounds a row differently depending on how many rows one call holds (small-M kernels),
  // so every caller cuts the product on the same grid: blocks of kLoraRowBlock rows counted from
  // row 0 of the record's view. Whole-tensor and row-tiled merges then make identical calls.
  if (row_begin % kLoraRowBlock != 0)
    throw ValueError(
        fmt::format("lora rows from {} are not on the {}-row grid", row_begin, kLoraRowBlock));
  for (uint64_t r = 0; r < rows; r += kLoraRowBlock) {
    const uint64_t m = std::min(kLoraRowBlock, rows - r);
    sgemm(false, false, m, cols, a.rows, c, b.data + (row_begin + r) * b.cols, b.cols, a.data,
          a.cols, 1.0f, dst + r * ldc, ldc);
  }
}

void lora_rows(const RecordFactors& rec, float s, uint64_t row_begin, uint64_t rows, float* dst,
               uint64_t cols) {
  if (!is_low_rank(rec)) fail(rec, "not a plain LoRA record");
  if (s == 0.0f || rows == 0) return;
  const MatView a = flat2(need(rec, "down")), b = flat2(need(rec, "up"));
  if (b.cols != a.rows || a.cols != cols || row_begin + rows > b.rows)
    fail(rec,
         fmt::format("lora rows [{}, {}) of up [{}, {}] and down [{}, {}] do not fit {} columns",
                     row_begin, row_begin + rows, b.rows, b.cols, a.rows, a.cols, cols));
  // Same alpha (s·γ) as apply_record gives lora_add.
  lora_product_rows(b, a, s * rec.module->alpha_scale, row_begin, rows, cols, dst, cols);
}

void lora_add(const RecordFactors& rec, float c, std::span<float> dst,
              std::span<const uint64_t> shape) {
  const Tensor32& down = need(rec, "down");
  const Tensor32& up = need(rec, "up");
  const MatView a = flat2(down), b = flat2(up);
  const Geometry g = geometry(shape);
  if (dst.size() != g.rows * g.cols) fail(rec, "target buffer does not match its shape");
  if (const Tensor32* mid = find(rec, "mid")) {
    need(rec, "mid");
    // A [r, in, 1, 1], M [r, r, kh, kw], B [out, r, 1, 1].
    if (down.shape.size() < 2 || mid->shape.size() != 4 || b.cols != mid->shape[0] ||
        a.rows != mid->shape[1])
      fail(rec, fmt::format("lora_mid {} does not fit down {} and up {}", shape_text(mid->shape),
                            shape_text(down.shape), shape_text(up.shape)));
    const uint64_t in = a.cols;
    const Shape ds = {b.rows, in, mid->shape[2], mid->shape[3]};
    const uint64_t cols = delta_columns(rec, ds, shape);
    const std::vector<float> d = tucker(rec, b.data, b.rows, b.cols, *mid, a.data, a.rows, in);
    add_placed(dst.data(), g, d.data(), cols, c);
    return;
  }
  if (b.cols != a.rows)
    fail(rec, fmt::format("lora up {} does not fit down {}", shape_text(up.shape),
                          shape_text(down.shape)));
  Shape ds(down.shape.begin(), down.shape.end());
  if (ds.empty()) fail(rec, "lora down is a scalar");
  ds[0] = b.rows;
  const uint64_t cols = delta_columns(rec, ds, shape);
  // dst[o, 0:cols] += c·B[o, :]·A[:, 0:cols]; a padded delta writes the first columns of each row.
  lora_product_rows(b, a, c, 0, g.rows, cols, dst.data(), g.cols);
}

}  // namespace lorakit::patch::detail
