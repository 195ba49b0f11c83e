// LoRA / LoCon (§8.1) and its Tucker form (§8.2): dst += c·B·A. The plain form adds the product
// straight into the target (sgemm with beta = 1), so no ΔW buffer exists for it.
#include <fmt/format.h>

#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

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
  sgemm(false, false, g.rows, cols, a.rows, c, b.data, b.cols, a.data, a.cols, 1.0f, dst.data(),
        g.cols);
}

}  // namespace lorakit::patch::detail
