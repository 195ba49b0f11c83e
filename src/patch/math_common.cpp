// Helpers shared by the record kernels: factor lookup, matrix views, §8.0 placement, interpolation.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "lorakit/error.hpp"
#include "patch/math_internal.hpp"

namespace lorakit::patch::detail {

uint64_t numel(std::span<const uint64_t> shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

MatView flat2(const Tensor32& t) {
  MatView m;
  m.data = t.data.data();
  const uint64_t n = numel(t.shape);
  m.rows = t.shape.empty() ? 1 : t.shape[0];
  m.cols = m.rows ? n / m.rows : 0;
  return m;
}

Geometry geometry(std::span<const uint64_t> shape) {
  Geometry g;
  const uint64_t n = numel(shape);
  g.rows = shape.empty() ? 1 : shape[0];
  g.cols = g.rows ? n / g.rows : 0;
  return g;
}

std::string prefix_of(const RecordFactors& rec) {
  return rec.module ? rec.module->prefix : std::string("(record)");
}

std::string shape_text(std::span<const uint64_t> shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

void fail(const RecordFactors& rec, std::string_view why) {
  throw ValueError(fmt::format("{}: {}", prefix_of(rec), why));
}

const Tensor32* find(const RecordFactors& rec, const std::string& role) {
  auto it = rec.factors.find(role);
  return it == rec.factors.end() ? nullptr : &it->second;
}

const Tensor32& need(const RecordFactors& rec, const std::string& role) {
  const Tensor32* t = find(rec, role);
  if (!t) fail(rec, fmt::format("factor '{}' is missing", role));
  if (t->data.size() != numel(t->shape))
    fail(rec, fmt::format("factor '{}' holds {} values for shape {}", role, t->data.size(),
                          shape_text(t->shape)));
  return *t;
}

std::vector<float> transposed(const float* in, uint64_t rows, uint64_t cols) {
  std::vector<float> out(rows * cols);
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) out[c * rows + r] = in[r * cols + c];
  return out;
}

uint64_t delta_columns(const RecordFactors& rec, std::span<const uint64_t> delta_shape,
                       std::span<const uint64_t> shape) {
  const Geometry g = geometry(shape);
  const auto mismatch = [&]() {
    return fmt::format("delta {} does not fit the target {}", shape_text(delta_shape),
                       shape_text(shape));
  };
  if (shape.size() <= 1) {
    // 1-D targets need the exact shape (a [C, 1] delta is refused, decision 20).
    if (!std::equal(delta_shape.begin(), delta_shape.end(), shape.begin(), shape.end()))
      fail(rec, mismatch());
    return g.cols;
  }
  if (delta_shape.empty() || delta_shape[0] != g.rows) fail(rec, mismatch());
  const uint64_t n = numel(delta_shape);
  if (n == numel(shape)) return g.cols;
  // The conv_in exception: the delta covers the first input channels of each output row.
  if (rec.module && rec.module->pad_input_channels && shape.size() == 4 && g.rows) {
    const uint64_t spatial = shape[2] * shape[3];
    const uint64_t cols = n / g.rows;
    if (spatial && cols % spatial == 0 && cols / spatial < shape[1]) return cols;
  }
  fail(rec, mismatch());
}

void add_placed(float* dst, Geometry g, const float* delta, uint64_t delta_cols, float c) {
  for (uint64_t o = 0; o < g.rows; ++o) {
    float* row = dst + o * g.cols;
    const float* d = delta + o * delta_cols;
    for (uint64_t j = 0; j < delta_cols; ++j) row[j] += c * d[j];
  }
}

void interpolate(std::span<float> w, std::span<const float> f, float s) {
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(blend(w[i], f[i], s));
}

}  // namespace lorakit::patch::detail
