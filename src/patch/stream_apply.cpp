// The streaming path of apply: a weight whose records are all plain LoRA products on its own rows
// is computed in row tiles — decode a tile, add each record's rows of s·γ·B·A into it (sgemm),
// round it into the output, and measure retention on the tile — so each weight is read once and
// written once and no fp32 copy of the whole tensor exists. Every other unit takes the general path
// (unit_compute.cpp). Both give the same bytes (tests/patch/stream_apply_test.cpp).
#include "patch/stream_apply.hpp"

#include <fmt/format.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <cmath>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "patch/delta_sums.hpp"
#include "patch/math_internal.hpp"
#include "patch/record_math.hpp"

namespace lorakit::patch::detail {
namespace {

struct RowStep {
  RecordFactors rec;
  float strength;
  uint64_t begin, end;  // rows of the tensor
};

struct TileSums {
  DeltaSums sums;
  uint64_t saturated = 0;
};

}  // namespace

bool streamable(const Plan& plan, const Unit& unit, const io::TensorSource& base) {
  if (unit.tensors.size() != 1 || !unit.scale_of.empty() || !unit.bias_of.empty()) return false;
  const io::TensorInfo* info = base.find(unit.tensors[0]);
  if (!info || info->shape.size() < 1 || info->elements == 0) return false;
  for (const Step& st : unit.steps) {
    const auto& mod = plan.entries[st.entry].adapter->modules[st.module];
    if (mod.kind != adapter::Kind::LoRA || mod.dora_scale || mod.reshape_weight ||
        mod.pad_input_channels || mod.factors.contains("mid") || !mod.bias.empty() ||
        mod.target.transform != model::DeltaTransform::None || mod.target.parts.size() != 1)
      return false;
    // Tiles start on the row grid of the LoRA product; a slice must start on it too, so that both
    // paths cut each record's product into the same sgemm calls (lora_product_rows).
    if (const auto& r = mod.target.parts[0].rows; r && r->begin % kLoraRowBlock != 0) return false;
  }
  return true;
}

std::optional<TensorOut> stream_apply(const Plan& plan, const Unit& unit,
                                      const io::TensorSource& base, const Options& options,
                                      DType out_type, std::vector<std::string>& warnings,
                                      BufferPool* buffers) {
  const io::TensorInfo& info = *base.find(unit.tensors[0]);
  const uint64_t rows = info.shape[0], cols = info.elements / rows;
  const uint32_t in_block = traits(info.dtype).block_elements;
  const uint32_t out_block = traits(out_type).block_elements;
  // Tiles are whole logical rows; each tile must also be whole blocks of both types.
  if (cols % in_block != 0 || cols % out_block != 0) return std::nullopt;

  std::vector<RowStep> steps;
  for (const Step& st : unit.steps) {
    const auto& ad = *plan.entries[st.entry].adapter;
    const auto& mod = ad.modules[st.module];
    RowStep rs{decode_factors(ad, mod), st.strength, 0, rows};
    if (const auto& r = mod.target.parts[0].rows) rs.begin = r->begin, rs.end = r->end;
    if (rs.end > rows || rs.begin > rs.end)
      throw ValueError(fmt::format("{}: {} rows [{}, {}) outside '{}' ({} rows)", ad.path,
                                   mod.prefix, rs.begin, rs.end, info.name, rows));
    steps.push_back(std::move(rs));
  }

  TensorOut t;
  t.name = info.name;
  t.dtype = out_type;
  t.shape = info.shape;
  t.storage_shape = info.storage_shape.empty() ? info.shape : info.storage_shape;
  t.patched = true;
  // Every byte is written by its tile.
  if (buffers)
    t.bytes = buffers->take(*bytes_for(out_type, info.elements));
  else
    t.bytes.resize(*bytes_for(out_type, info.elements));
  const io::TensorView src = base.view(info);
  const bool stochastic = is_fp8(out_type) && options.fp8_rounding == Fp8Rounding::Stochastic;
  const uint64_t seed64 = stochastic ? codec::stochastic_seed(info.name, options.seed) : 0;

  // About 64 Ki values a tile (three fp32 buffers stay in L2), in whole blocks of the product grid.
  const uint64_t grid_blocks = std::max<uint64_t>(1, ((1u << 16) / cols) / kLoraRowBlock);
  const uint64_t tile_rows = grid_blocks * kLoraRowBlock;
  const uint64_t tiles = (rows + tile_rows - 1) / tile_rows;
  std::vector<TileSums> sums(tiles);
  try {
    tbb::parallel_for(uint64_t{0}, tiles, [&](uint64_t ti) {
      const uint64_t r0 = ti * tile_rows, r1 = std::min(rows, r0 + tile_rows), n = (r1 - r0) * cols;
      // Per-thread tile buffers, reused across tiles and tensors (no allocation or zeroing per
      // tile).
      thread_local std::vector<float> w0_buf, w_buf, eff_buf;
      if (w_buf.size() < n) w_buf.resize(n);
      float* w = w_buf.data();
      const std::byte* src_tile = src.bytes.data() + *bytes_for(info.dtype, r0 * cols);
      codec::decode(info.dtype, src_tile, w, n);
      // Float-to-float tiles finish in one fused pass that re-reads the source for W₀; the others
      // keep a copy of W₀.
      const bool fused = fused_finish(info.dtype, out_type);
      float* w0 = nullptr;
      if (!fused) {
        if (w0_buf.size() < n) w0_buf.resize(n), eff_buf.resize(n);
        w0 = w0_buf.data();
        std::copy(w, w + n, w0);
      }
      for (const RowStep& rs : steps) {
        const uint64_t b = std::max(r0, rs.begin), e = std::min(r1, rs.end);
        if (b >= e) continue;
        lora_rows(rs.rec, rs.strength, b - rs.begin, e - b, w + (b - r0) * cols, cols);
      }
      std::byte* dst = t.bytes.data() + *bytes_for(out_type, r0 * cols);
      TileSums& s = sums[ti];
      if (fused) {
        finish_tile(info.dtype, src_tile, w, out_type, dst, n, s.sums);
        return;
      }
      if (stochastic) {
        s.saturated = codec::encode_fp8_stochastic(out_type, w, dst, n, seed64, r0 * cols);
      } else {
        if (is_fp8(out_type)) s.saturated = count_beyond(w, n, fp8_max(out_type));
        codec::encode(out_type, w, dst, n);
      }
      codec::decode(out_type, dst, eff_buf.data(), n);
      accumulate_delta_sums(w0, w, eff_buf.data(), n, s.sums);
    });
  } catch (const ValueError& e) {
    throw ValueError(fmt::format("{}: patched tensor '{}' cannot be stored as {}: {}", base.path(),
                                 info.name, name(out_type), e.what()));
  }
  // Sums in tile order: the same figures whatever ran where.
  DeltaSums total;
  for (const auto& s : sums) {
    total += s.sums;
    t.stats.saturated += s.saturated;
  }
  const double dd = total.dd, proj = total.proj, err = total.err;
  const bool nonfinite = total.nonfinite;
  t.stats.delta_norm = std::sqrt(dd);
  if (dd > 0) {
    t.stats.retention = proj / dd;
    t.stats.rel_error = std::sqrt(err) / std::sqrt(dd);
  }
  if (nonfinite)
    warnings.push_back(fmt::format("'{}' has non-finite values after patching", info.name));
  return t;
}

}  // namespace lorakit::patch::detail
