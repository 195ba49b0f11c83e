// The runtime (sidecar) form of a unit (lessons.md R10) and the reference forward that engines
// mirror.
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "lorakit/codec.hpp"
#include "lorakit/error.hpp"
#include "lorakit/patch.hpp"
#include "patch/record_math.hpp"
#include "patch/unit_compute.hpp"

namespace lorakit::patch {
namespace {

uint64_t cols_of(const std::vector<uint64_t>& shape) {
  uint64_t c = 1;
  for (size_t i = 1; i < shape.size(); ++i) c *= shape[i];
  return c;
}

bool all_low_rank(const Plan& plan, const Unit& unit) {
  for (const Step& st : unit.steps) {
    const auto& ad = *plan.entries[st.entry].adapter;
    const auto& mod = ad.modules[st.module];
    if (mod.kind != adapter::Kind::LoRA || mod.dora_scale || mod.reshape_weight ||
        mod.pad_input_channels || mod.factors.contains("mid"))
      return false;
  }
  return true;
}

}  // namespace

std::vector<RuntimePatch> runtime_patch(const Plan& plan, const Unit& unit,
                                        const io::TensorSource& base) {
  std::vector<RuntimePatch> out;
  std::map<std::string, RuntimePatch> by_weight;
  std::set<std::string> biases;
  for (const auto& [w, b] : unit.bias_of) biases.insert(b);
  std::set<std::string> scales;
  for (const auto& [w, s] : unit.scale_of) scales.insert(s);
  for (const auto& name : unit.tensors) {
    if (biases.contains(name) || scales.contains(name)) continue;
    const io::TensorInfo* info = base.find(name);
    if (!info) throw InvalidArgument(fmt::format("{}: no tensor '{}'", base.path(), name));
    RuntimePatch rp;
    rp.tensor = name;
    rp.out = info->shape.empty() ? 1 : info->shape[0];
    rp.in = cols_of(info->shape);
    by_weight.emplace(name, std::move(rp));
  }

  if (all_low_rank(plan, unit)) {
    for (const Step& st : unit.steps) {
      const auto& ad = *plan.entries[st.entry].adapter;
      const auto& mod = ad.modules[st.module];
      const detail::RecordFactors rec = detail::decode_factors(ad, mod);
      std::vector<float> a, b;
      uint64_t rank = 0;
      detail::low_rank_factors(rec, st.strength, a, b, rank);
      // b is [rows of the record's view, rank]; a is [rank, cols of the record's frame].
      uint64_t view_rows = 0;
      for (const auto& part : mod.target.parts) {
        const auto& rp = by_weight.at(part.tensor);
        view_rows += part.rows ? part.rows->end - part.rows->begin : rp.out;
      }
      if (rank == 0 || view_rows == 0) continue;
      const uint64_t frame_cols = a.size() / rank;
      if (mod.target.transform == model::DeltaTransform::Transpose) {
        // (B·A)ᵀ = Aᵀ·Bᵀ: the frame's rows are the model's columns.
        std::vector<float> a2(rank * (b.size() / rank)), b2(frame_cols * rank);
        const uint64_t brows = b.size() / rank;
        for (uint64_t r = 0; r < brows; ++r)
          for (uint64_t k = 0; k < rank; ++k) a2[k * brows + r] = b[r * rank + k];
        for (uint64_t k = 0; k < rank; ++k)
          for (uint64_t c = 0; c < frame_cols; ++c) b2[c * rank + k] = a[k * frame_cols + c];
        a = std::move(a2);
        b = std::move(b2);
      } else if (mod.target.transform == model::DeltaTransform::SwapScaleShift) {
        const uint64_t half = view_rows / 2;
        for (uint64_t r = 0; r < half; ++r)
          std::swap_ranges(b.begin() + r * rank, b.begin() + (r + 1) * rank,
                           b.begin() + (half + r) * rank);
      }
      const uint64_t cols = a.size() / rank;
      uint64_t at = 0;
      for (const auto& part : mod.target.parts) {
        auto& rp = by_weight.at(part.tensor);
        LowRank lr;
        lr.row_begin = part.rows ? part.rows->begin : 0;
        lr.rows = part.rows ? part.rows->end - part.rows->begin : rp.out;
        lr.rank = rank;
        lr.cols = cols;
        if (cols != rp.in)
          throw ValueError(fmt::format("{}: {} low-rank columns {} do not match '{}' ({})", ad.path,
                                       mod.prefix, cols, part.tensor, rp.in));
        lr.a = a;
        lr.b.assign(b.begin() + at * rank, b.begin() + (at + lr.rows) * rank);
        at += lr.rows;
        rp.low_rank.push_back(std::move(lr));
      }
    }
  }
  // Everything that is not low-rank (or, when any record is not, everything) goes into a dense
  // residual: W_exact − W₀, computed exactly as the fused path computes it.
  const bool dense = !all_low_rank(plan, unit);
  std::vector<std::string> warnings;
  const bool need_bias = !unit.bias_of.empty();
  if (dense || need_bias) {
    auto bufs = detail::compute_unit(plan, unit, base, warnings);
    for (auto& [name, rp] : by_weight) {
      const auto& b = bufs.at(name);
      if (dense) {
        if (b.shape != b.info->shape)
          throw UnsupportedError(
              fmt::format("'{}': a record pads this tensor (reshape_weight); the runtime form "
                          "cannot express it",
                          name));
        const auto w0 = detail::decode_pristine(base, *b.info, b.scale);
        rp.residual.resize(w0.size());
        for (size_t i = 0; i < w0.size(); ++i) rp.residual[i] = b.data[i] - w0[i];
      }
      if (auto it = unit.bias_of.find(name); it != unit.bias_of.end()) {
        const auto& bb = bufs.at(it->second);
        const auto b0 = detail::decode_pristine(base, *bb.info);
        rp.bias_delta.resize(b0.size());
        for (size_t i = 0; i < b0.size(); ++i) rp.bias_delta[i] = bb.data[i] - b0[i];
      }
    }
  }
  for (auto& [name, rp] : by_weight) out.push_back(std::move(rp));
  std::sort(out.begin(), out.end(), [&](const RuntimePatch& x, const RuntimePatch& y) {
    return std::find(unit.tensors.begin(), unit.tensors.end(), x.tensor) <
           std::find(unit.tensors.begin(), unit.tensors.end(), y.tensor);
  });
  return out;
}

void linear_forward(const io::TensorView& weight, const RuntimePatch& patch, const float* x,
                    uint64_t batch, float* y, const io::TensorView* bias) {
  const uint64_t out = patch.out, in = patch.in;
  if (!weight.info || weight.info->elements != out * in)
    throw InvalidArgument(
        fmt::format("linear_forward: weight '{}' does not match the patch ({}x{})",
                    weight.info ? weight.info->name : "?", out, in));
  std::vector<float> w(out * in);
  {
    const auto& st =
        weight.info->storage_shape.empty() ? weight.info->shape : weight.info->storage_shape;
    const uint64_t row = st.empty() ? 1 : st.back();
    codec::decode_rows(weight.info->dtype, weight.bytes.data(), w.data(), (out * in) / row, row);
  }
  // y = x·Wᵀ
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch),
              static_cast<int>(out), static_cast<int>(in), 1.0f, x, static_cast<int>(in), w.data(),
              static_cast<int>(in), 0.0f, y, static_cast<int>(out));
  for (const LowRank& lr : patch.low_rank) {
    std::vector<float> t(batch * lr.rank);
    // t = x·Aᵀ [batch, rank]; y[:, rows] += t·Bᵀ
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch),
                static_cast<int>(lr.rank), static_cast<int>(in), 1.0f, x, static_cast<int>(in),
                lr.a.data(), static_cast<int>(in), 0.0f, t.data(), static_cast<int>(lr.rank));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch),
                static_cast<int>(lr.rows), static_cast<int>(lr.rank), 1.0f, t.data(),
                static_cast<int>(lr.rank), lr.b.data(), static_cast<int>(lr.rank), 1.0f,
                y + lr.row_begin, static_cast<int>(out));
  }
  if (!patch.residual.empty())
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(batch),
                static_cast<int>(out), static_cast<int>(in), 1.0f, x, static_cast<int>(in),
                patch.residual.data(), static_cast<int>(in), 1.0f, y, static_cast<int>(out));
  if (bias) {
    std::vector<float> bv(out);
    codec::decode(bias->info->dtype, bias->bytes.data(), bv.data(), out);
    for (uint64_t i = 0; i < out && i < patch.bias_delta.size(); ++i) bv[i] += patch.bias_delta[i];
    for (uint64_t r = 0; r < batch; ++r)
      for (uint64_t o = 0; o < out; ++o) y[r * out + o] += bv[o];
  }
}

}  // namespace lorakit::patch
