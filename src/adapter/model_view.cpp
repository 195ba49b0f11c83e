#include "adapter/model_view.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace lorakit::adapter::detail {

ModelView ModelView::of(const model::ModelIndex& m) {
  ModelView v;
  v.origin = m.origin();
  v.arch = m.arch();
  v.components = m.components();
  v.paths = m.module_paths();
  v.find = [&m](std::string_view name) { return m.find(name); };
  return v;
}

bool ModelView::has_component(model::ComponentKind k) const {
  for (const auto& c : components)
    if (c.kind == k) return true;
  return false;
}

bool ModelView::is_sd_unet() const {
  using model::Family;
  return arch.family == Family::SD1 || arch.family == Family::SD2 || arch.family == Family::SDXL;
}

bool ModelView::is_dit() const {
  return arch.family == model::Family::SD3 || arch.family == model::Family::Flux;
}

uint64_t element_count(const std::vector<uint64_t>& shape) {
  uint64_t n = 1;
  for (uint64_t d : shape) n *= d;
  return n;
}

namespace {

// Shape of one part (its slice rows in dimension 0).
std::optional<std::vector<uint64_t>> part_shape(const model::BindingPart& p, const ModelView& m) {
  const model::TensorMeta* t = m.find ? m.find(p.tensor) : nullptr;
  if (!t) return std::nullopt;
  std::vector<uint64_t> s = t->shape;
  if (p.rows) {
    if (s.empty() || p.rows->begin >= p.rows->end || p.rows->end > s[0]) return std::nullopt;
    s[0] = p.rows->end - p.rows->begin;
  }
  return s;
}

}  // namespace

std::optional<std::vector<uint64_t>> binding_shape(const model::Binding& b, const ModelView& m) {
  if (b.parts.empty()) return std::nullopt;
  std::optional<std::vector<uint64_t>> total;
  for (const auto& p : b.parts) {
    auto s = part_shape(p, m);
    if (!s || s->empty()) return std::nullopt;
    if (!total) {
      total = std::move(s);
      continue;
    }
    if (s->size() != total->size() || !std::equal(s->begin() + 1, s->end(), total->begin() + 1))
      return std::nullopt;
    (*total)[0] += (*s)[0];
  }
  return total;
}

std::optional<model::Binding> restrict_rows(const model::Binding& b, uint64_t begin, uint64_t end,
                                            const ModelView& m) {
  if (begin >= end) return std::nullopt;
  model::Binding out;
  out.transform = b.transform;
  uint64_t at = 0;  // first row of the current part in the denoted tensor
  for (const auto& p : b.parts) {
    auto s = part_shape(p, m);
    if (!s || s->empty()) return std::nullopt;
    const uint64_t rows = (*s)[0];
    const uint64_t lo = std::max(begin, at), hi = std::min(end, at + rows);
    if (lo < hi) {
      const uint64_t base = p.rows ? p.rows->begin : 0;
      model::BindingPart q{p.tensor, model::RowSlice{base + (lo - at), base + (hi - at)}};
      // A slice covering a whole tensor is the tensor itself.
      const model::TensorMeta* t = m.find(p.tensor);
      if (q.rows->begin == 0 && t && q.rows->end == t->shape[0]) q.rows.reset();
      out.parts.push_back(std::move(q));
    }
    at += rows;
  }
  if (end > at || out.parts.empty()) return std::nullopt;
  return out;
}

std::string bias_companion(std::string_view w) {
  if (w.ends_with(".weight")) return std::string(w.substr(0, w.size() - 7)) + ".bias";
  if (w.ends_with("_weight")) return std::string(w.substr(0, w.size() - 7)) + "_bias";
  return {};
}

std::string describe(const model::Binding& b) {
  std::string s;
  for (const auto& p : b.parts) {
    if (!s.empty()) s += " + ";
    s += p.tensor;
    if (p.rows) s += fmt::format("[{}:{}]", p.rows->begin, p.rows->end);
  }
  if (b.transform == model::DeltaTransform::SwapScaleShift) s += " (swap_scale_shift)";
  if (b.transform == model::DeltaTransform::Transpose) s += " (transposed)";
  return s;
}

}  // namespace lorakit::adapter::detail
