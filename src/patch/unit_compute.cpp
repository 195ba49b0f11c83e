#include "patch/unit_compute.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "patch/record_math.hpp"

namespace lorakit::patch::detail {
namespace {

uint64_t product(std::span<const uint64_t> s, size_t from = 0) {
  uint64_t p = 1;
  for (size_t i = from; i < s.size(); ++i) p *= s[i];
  return p;
}

// Zero-pads `b` to `shape` (new entries appended at the end of each axis, §8.13).
void pad_to(Buffer& b, const std::vector<uint64_t>& shape, const std::string& who) {
  if (shape == b.shape) return;
  if (shape.size() != b.shape.size())
    throw ValueError(fmt::format("{}: reshape_weight {} has another rank than the tensor's {}", who,
                                 fmt::join(shape, "x"), fmt::join(b.shape, "x")));
  for (size_t d = 0; d < shape.size(); ++d)
    if (shape[d] < b.shape[d])
      throw ValueError(fmt::format("{}: reshape_weight {} would shrink the tensor {}", who,
                                   fmt::join(shape, "x"), fmt::join(b.shape, "x")));
  std::vector<float> out(product(shape), 0.0f);
  // Copy row-major: iterate over the old tensor's elements.
  const size_t nd = shape.size();
  std::vector<uint64_t> idx(nd, 0);
  const uint64_t n = product(b.shape);
  for (uint64_t k = 0; k < n; ++k) {
    uint64_t off = 0;
    for (size_t d = 0; d < nd; ++d) off = off * shape[d] + idx[d];
    out[off] = b.data[k];
    for (size_t d = nd; d-- > 0;) {
      if (++idx[d] < b.shape[d]) break;
      idx[d] = 0;
    }
  }
  b.data = std::move(out);
  b.shape = shape;
}

// Swaps the two halves of the rows (adaLN shift/scale order, §7.4); its own inverse.
void swap_halves(std::span<float> v, uint64_t rows, uint64_t row_len) {
  const uint64_t half = rows / 2;
  for (uint64_t r = 0; r < half; ++r)
    std::swap_ranges(v.begin() + r * row_len, v.begin() + (r + 1) * row_len,
                     v.begin() + (half + r) * row_len);
}

std::vector<float> transposed(std::span<const float> v, uint64_t rows, uint64_t cols) {
  std::vector<float> t(v.size());
  for (uint64_t r = 0; r < rows; ++r)
    for (uint64_t c = 0; c < cols; ++c) t[c * rows + r] = v[r * cols + c];
  return t;
}

struct PartSpan {
  Buffer* buf;
  uint64_t begin, rows;  // rows of the tensor
};

}  // namespace

std::vector<float> decode_pristine(const io::TensorSource& base, const io::TensorInfo& info,
                                   float scale) {
  if (!codec::can_decode(info.dtype))
    throw UnsupportedError(
        fmt::format("{}: tensor '{}' is stored as {}, which lorakit cannot decode", base.path(),
                    info.name, name(info.dtype)));
  const io::TensorView v = base.view(info);
  std::vector<float> out(info.elements);
  const auto& st = info.storage_shape.empty() ? info.shape : info.storage_shape;
  const uint64_t row = st.empty() ? 1 : st.back();
  const uint64_t rows = row ? info.elements / row : 0;
  if (rows * row == info.elements && row)
    codec::decode_rows(info.dtype, v.bytes.data(), out.data(), rows, row);
  else
    codec::decode(info.dtype, v.bytes.data(), out.data(), info.elements);
  if (scale != 1.0f)
    for (float& x : out) x *= scale;
  return out;
}

float read_scale(const io::TensorSource& base, const std::string& scale_tensor) {
  const io::TensorInfo* info = base.find(scale_tensor);
  if (!info || info->elements != 1 || !codec::can_decode(info->dtype) ||
      !traits(info->dtype).is_float)
    throw FormatError(base.path(), "bad_scale",
                      fmt::format("scaled-fp8 scale '{}' must be one float element", scale_tensor));
  float s = 0;
  codec::decode(info->dtype, base.view(*info).bytes.data(), &s, 1);
  if (!std::isfinite(s) || s <= 0)
    throw FormatError(base.path(), "bad_scale",
                      fmt::format("scaled-fp8 scale '{}' is {}, expected a positive finite value",
                                  scale_tensor, s));
  return s;
}

std::map<std::string, Buffer> compute_unit(const Plan& plan, const Unit& unit,
                                           const io::TensorSource& base,
                                           std::vector<std::string>& warnings) {
  std::map<std::string, Buffer> bufs;
  std::map<std::string, std::string> scale_tensors;
  for (const auto& [w, s] : unit.scale_of) scale_tensors.emplace(s, w);
  for (const auto& name : unit.tensors) {
    if (scale_tensors.contains(name)) continue;
    const io::TensorInfo* info = base.find(name);
    if (!info)
      throw InvalidArgument(
          fmt::format("{}: no tensor '{}' (plan made for another model?)", base.path(), name));
    Buffer b;
    b.info = info;
    b.shape = info->shape;
    if (auto it = unit.scale_of.find(name); it != unit.scale_of.end())
      b.scale = read_scale(base, it->second);
    b.data = decode_pristine(base, *info, b.scale);
    bufs.emplace(name, std::move(b));
  }
  auto buffer = [&](const std::string& name) -> Buffer& {
    auto it = bufs.find(name);
    if (it == bufs.end())
      throw InvalidArgument(fmt::format("tensor '{}' is not part of its unit", name));
    return it->second;
  };

  for (const Step& step : unit.steps) {
    const adapter::Adapter& ad = *plan.entries[step.entry].adapter;
    const adapter::Module& mod = ad.modules[step.module];
    const std::string who = ad.path + ": " + mod.prefix;
    const RecordFactors rec = decode_factors(ad, mod);

    // The view: parts concatenated along dim 0.
    std::vector<PartSpan> parts;
    uint64_t rows = 0, row_len = 0;
    std::vector<uint64_t> tail;
    for (const auto& part : mod.target.parts) {
      Buffer& b = buffer(part.tensor);
      if (mod.reshape_weight) pad_to(b, *mod.reshape_weight, who);
      if (b.shape.empty()) throw ValueError(who + ": cannot patch a 0-dimensional tensor");
      std::vector<uint64_t> t(b.shape.begin() + 1, b.shape.end());
      if (parts.empty()) {
        tail = t;
        row_len = product(t);
      } else if (t != tail) {
        throw ValueError(fmt::format("{}: parts of a fused binding differ in shape ({} vs {})", who,
                                     fmt::join(t, "x"), fmt::join(tail, "x")));
      }
      uint64_t begin = 0, n = b.shape[0];
      if (part.rows) {
        begin = part.rows->begin;
        n = part.rows->end - part.rows->begin;
        if (part.rows->end > b.shape[0] || part.rows->begin > part.rows->end)
          throw ValueError(fmt::format("{}: rows [{}, {}) outside '{}' ({} rows)", who,
                                       part.rows->begin, part.rows->end, part.tensor, b.shape[0]));
      }
      parts.push_back({&b, begin, n});
      rows += n;
    }
    if (parts.empty()) continue;
    std::vector<uint64_t> view_shape{rows};
    view_shape.insert(view_shape.end(), tail.begin(), tail.end());

    const bool whole_single =
        parts.size() == 1 && parts[0].begin == 0 && parts[0].rows == parts[0].buf->shape[0];
    std::vector<float> gathered;
    std::span<float> view;
    if (whole_single) {
      view = parts[0].buf->data;
    } else {
      gathered.resize(rows * row_len);
      uint64_t at = 0;
      for (const auto& p : parts) {
        std::copy_n(p.buf->data.begin() + p.begin * row_len, p.rows * row_len,
                    gathered.begin() + at * row_len);
        at += p.rows;
      }
      view = gathered;
    }

    // Into the record's frame: both transforms are their own inverse.
    std::vector<float> frame;
    std::vector<uint64_t> frame_shape = view_shape;
    switch (mod.target.transform) {
      case model::DeltaTransform::None:
        apply_record(rec, step.strength, view, view_shape, warnings);
        break;
      case model::DeltaTransform::SwapScaleShift:
        swap_halves(view, rows, row_len);
        apply_record(rec, step.strength, view, view_shape, warnings);
        swap_halves(view, rows, row_len);
        break;
      case model::DeltaTransform::Transpose:
        if (view_shape.size() != 2)
          throw ValueError(who + ": a transposed binding needs a 2-D target");
        frame = transposed(view, rows, row_len);
        frame_shape = {row_len, rows};
        apply_record(rec, step.strength, frame, frame_shape, warnings);
        {
          const auto back = transposed(frame, row_len, rows);
          std::copy(back.begin(), back.end(), view.begin());
        }
        break;
    }
    if (!whole_single) {
      uint64_t at = 0;
      for (const auto& p : parts) {
        std::copy_n(gathered.begin() + at * row_len, p.rows * row_len,
                    p.buf->data.begin() + p.begin * row_len);
        at += p.rows;
      }
    }
    for (auto& p : parts) p.buf->written = true;

    // Bias parts patch the same rows of the bias companions (§7.7).
    if (!mod.bias.empty()) {
      std::vector<std::pair<Buffer*, uint64_t>> bparts;  // buffer, begin (rows from parts)
      bool complete = true;
      for (size_t i = 0; i < parts.size(); ++i) {
        auto it = unit.bias_of.find(mod.target.parts[i].tensor);
        if (it == unit.bias_of.end()) {
          complete = false;
          break;
        }
        Buffer& bb = buffer(it->second);
        if (bb.data.size() < parts[i].begin + parts[i].rows) {
          complete = false;
          break;
        }
        bparts.emplace_back(&bb, parts[i].begin);
      }
      if (!complete) {
        warnings.push_back(who + ": bias delta skipped (the model has no bias for its target)");
        continue;
      }
      std::vector<float> bias(rows);
      uint64_t at = 0;
      for (size_t i = 0; i < parts.size(); ++i) {
        std::copy_n(bparts[i].first->data.begin() + bparts[i].second, parts[i].rows,
                    bias.begin() + at);
        at += parts[i].rows;
      }
      if (mod.target.transform == model::DeltaTransform::SwapScaleShift) swap_halves(bias, rows, 1);
      apply_bias(rec, step.strength, bias);
      if (mod.target.transform == model::DeltaTransform::SwapScaleShift) swap_halves(bias, rows, 1);
      at = 0;
      for (size_t i = 0; i < parts.size(); ++i) {
        std::copy_n(bias.begin() + at, parts[i].rows,
                    bparts[i].first->data.begin() + bparts[i].second);
        bparts[i].first->written = true;
        at += parts[i].rows;
      }
    }
  }
  return bufs;
}

}  // namespace lorakit::patch::detail
