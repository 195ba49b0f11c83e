// apply: the exact fp32 result of a unit (unit_compute.cpp) rounded once into each tensor's output
// type, with the retention figures of the rounding (lessons.md §2.5).
#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <cmath>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/patch.hpp"
#include "patch/delta_sums.hpp"
#include "patch/stream_apply.hpp"
#include "patch/unit_compute.hpp"

namespace lorakit::patch {
namespace {

using detail::count_beyond;
using detail::fp8_max;
using detail::is_fp8;

bool is_block_type(DType t) { return traits(t).ggml_id >= 0 && traits(t).block_elements > 1; }

// Stochastic fp8 in fixed tiles: the stream is indexed by element, so tiles may run in any order.
uint64_t encode_fp8_stochastic_tiled(DType t, const float* src, std::byte* dst, uint64_t n,
                                     uint64_t seed64) {
  constexpr uint64_t kTile = 1 << 16;
  const uint64_t tiles = (n + kTile - 1) / kTile;
  std::vector<uint64_t> sat(tiles, 0);
  tbb::parallel_for(uint64_t{0}, tiles, [&](uint64_t i) {
    const uint64_t b = i * kTile, e = std::min(n, b + kTile);
    sat[i] = codec::encode_fp8_stochastic(t, src + b, dst + b, e - b, seed64, b);
  });
  uint64_t total = 0;
  for (uint64_t s : sat) total += s;
  return total;
}

// Rows × row length of the stored layout, for row-parallel codecs.
std::pair<uint64_t, uint64_t> rows_of(const std::vector<uint64_t>& storage, uint64_t elements) {
  const uint64_t row = storage.empty() ? 1 : storage.back();
  if (row == 0) return {0, 0};
  return {elements / row, row};
}

}  // namespace

UnitOut apply(const Plan& plan, const Unit& unit, const io::TensorSource& base,
              const Options& options, BufferPool* buffers) {
  if (detail::streamable(plan, unit, base)) {
    const io::TensorInfo& info = *base.find(unit.tensors[0]);
    const bool runtime = is_block_type(info.dtype) && options.quant_policy == QuantPolicy::Runtime;
    if (!runtime) {
      UnitOut out;
      if (auto t = detail::stream_apply(plan, unit, base, options, output_type(info, options, true),
                                        out.warnings, buffers)) {
        out.tensors.push_back(std::move(*t));
        return out;
      }
    }
  }
  return detail::apply_general(plan, unit, base, options, buffers);
}

UnitOut detail::apply_general(const Plan& plan, const Unit& unit, const io::TensorSource& base,
                              const Options& options, BufferPool* buffers) {
  UnitOut out;
  auto bufs = detail::compute_unit(plan, unit, base, out.warnings);
  std::map<std::string, std::string> weight_of_scale;
  for (const auto& [w, s] : unit.scale_of) weight_of_scale.emplace(s, w);
  std::map<std::string, float> new_scale;  // scale tensor → recomputed scale

  // Weights and biases first (scales depend on them), then emit in unit order.
  std::map<std::string, TensorOut> done;
  for (auto& [name, b] : bufs) {
    const io::TensorInfo& info = *b.info;
    TensorOut t;
    t.name = name;
    t.shape = b.shape;
    t.storage_shape =
        b.shape == info.shape && !info.storage_shape.empty() ? info.storage_shape : b.shape;
    t.patched = b.written;
    const bool quantized_source = is_block_type(info.dtype);
    if (!b.written || (quantized_source && options.quant_policy == QuantPolicy::Runtime)) {
      const auto v = base.view(info);
      t.dtype = info.dtype;
      t.shape = info.shape;
      t.storage_shape = info.storage_shape.empty() ? info.shape : info.storage_shape;
      t.bytes.assign(v.bytes.begin(), v.bytes.end());
      t.patched = false;
      done.emplace(name, std::move(t));
      continue;
    }
    t.dtype = unit.scale_of.contains(name) ? info.dtype : output_type(info, options, true);
    // output_type judges the source's stored shape; a padded tensor is judged again.
    if (is_block_type(t.dtype) && (t.storage_shape.size() < 2 ||
                                   t.storage_shape.back() % traits(t.dtype).block_elements != 0))
      t.dtype = (info.dtype == DType::F32 || info.dtype == DType::F64) ? DType::F32 : DType::F16;
    const uint64_t n = b.data.size();
    const auto bytes = bytes_for(t.dtype, n);
    if (!bytes)
      throw ValueError(
          fmt::format("{}: '{}' does not fit {}", base.path(), name, ::lorakit::name(t.dtype)));
    // Every byte is written by the encoder below.
    if (buffers)
      t.bytes = buffers->take(*bytes);
    else
      t.bytes.resize(*bytes);

    // Scaled fp8: store W′/scale; the scale grows only when W′ would saturate (decisions.md).
    float scale = b.scale;
    if (auto it = unit.scale_of.find(name); it != unit.scale_of.end()) {
      float amax = 0;
      for (float x : b.data)
        if (std::isfinite(x)) amax = std::max(amax, std::fabs(x));
      const double need = static_cast<double>(amax) / fp8_max(t.dtype);
      if (need > scale) scale = static_cast<float>(need);
      // The scale is stored in its tensor's own type: use the value that type holds, nudged up
      // until max/scale fits.
      const DType sdt = base.find(it->second)->dtype;
      auto stored = [&](float v) {
        std::byte tmp[8];
        float back = 0;
        codec::encode(sdt, &v, tmp, 1);
        codec::decode(sdt, tmp, &back, 1);
        return back;
      };
      if (scale != b.scale) {
        scale = stored(scale);
        while (static_cast<double>(amax) / scale > fp8_max(t.dtype))
          scale = stored(std::nextafter(scale, INFINITY) * (1.0f + 0x1p-10f));
      }
      new_scale[it->second] = scale;
    }
    std::vector<float> scaled;
    const std::vector<float>* src = &b.data;
    if (scale != 1.0f) {
      scaled.resize(n);
      for (uint64_t i = 0; i < n; ++i) scaled[i] = b.data[i] / scale;
      src = &scaled;
    }
    const auto [rows, row] = rows_of(t.storage_shape, n);
    try {
      if (is_fp8(t.dtype) && options.fp8_rounding == Fp8Rounding::Stochastic) {
        t.stats.saturated = encode_fp8_stochastic_tiled(t.dtype, src->data(), t.bytes.data(), n,
                                                        codec::stochastic_seed(name, options.seed));
      } else {
        if (is_fp8(t.dtype))
          t.stats.saturated = count_beyond(src->data(), src->size(), fp8_max(t.dtype));
        if (rows * row == n && row)
          codec::encode_rows(t.dtype, src->data(), t.bytes.data(), rows, row);
        else
          codec::encode(t.dtype, src->data(), t.bytes.data(), n);
      }
    } catch (const ValueError& e) {
      throw ValueError(fmt::format("{}: patched tensor '{}' cannot be stored as {}: {}",
                                   base.path(), name, ::lorakit::name(t.dtype), e.what()));
    }

    // Retention: W₀ (pristine, padded like W′), W_exact = b.data, W_eff = decode(bytes)·scale.
    const std::vector<float> w0 = detail::decode_pristine(base, info, b.scale);
    std::vector<float> eff(n);
    if (rows * row == n && row)
      codec::decode_rows(t.dtype, t.bytes.data(), eff.data(), rows, row);
    else
      codec::decode(t.dtype, t.bytes.data(), eff.data(), n);
    if (scale != 1.0f)
      for (float& x : eff) x *= scale;
    // For a padded tensor W₀ is compared element-for-element only when shapes agree; otherwise
    // the whole new value is the change.
    detail::DeltaSums sums;
    detail::accumulate_delta_sums(w0.size() != n ? nullptr : w0.data(), b.data.data(), eff.data(),
                                  n, sums);
    const double dd = sums.dd, proj = sums.proj, err = sums.err;
    t.stats.delta_norm = std::sqrt(dd);
    if (dd > 0) {
      t.stats.retention = proj / dd;
      t.stats.rel_error = std::sqrt(err) / std::sqrt(dd);
    }
    if (sums.nonfinite)
      out.warnings.push_back(fmt::format("'{}' has non-finite values after patching", name));
    done.emplace(name, std::move(t));
  }
  for (const auto& name : unit.tensors) {
    if (auto it = done.find(name); it != done.end()) {
      out.tensors.push_back(std::move(it->second));
      continue;
    }
    // A scale tensor: rewritten when its weight needed a larger scale, else passed through.
    const io::TensorInfo* info = base.find(name);
    if (!info) throw InvalidArgument(fmt::format("{}: no tensor '{}'", base.path(), name));
    TensorOut t;
    t.name = name;
    t.dtype = info->dtype;
    t.shape = info->shape;
    t.storage_shape = info->storage_shape.empty() ? info->shape : info->storage_shape;
    const auto v = base.view(*info);
    t.bytes.assign(v.bytes.begin(), v.bytes.end());
    if (auto it = new_scale.find(name); it != new_scale.end()) {
      const float old = detail::read_scale(base, name);
      if (it->second != old) {
        codec::encode(info->dtype, &it->second, t.bytes.data(), 1);
        t.patched = true;
      }
    }
    out.tensors.push_back(std::move(t));
  }
  return out;
}

}  // namespace lorakit::patch
